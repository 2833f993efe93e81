// Country → continent, for every ISO 3166-1 alpha-2 code that is officially assigned, plus
// XK (Kosovo, user-assigned but used by IP databases). The country database that proflag ships
// records only the country, so the continent comes from this table. Continent codes follow the
// common GeoNames/MaxMind convention: AF, AN, AS, EU, NA, OC, SA (Türkiye, Cyprus, Russia and
// the Caucasus placed as those sources place them).

export type Continent = 'AF' | 'AN' | 'AS' | 'EU' | 'NA' | 'OC' | 'SA';

const BY_CONTINENT: Readonly<Record<Continent, string>> = {
  AF:
    'AO BF BI BJ BW CD CF CG CI CM CV DJ DZ EG EH ER ET GA GH GM GN GQ GW KE KM LR LS LY MA MG ML ' +
    'MR MU MW MZ NA NE NG RE RW SC SD SH SL SN SO SS ST SZ TD TG TN TZ UG YT ZA ZM ZW',
  AN: 'AQ BV GS HM TF',
  AS:
    'AE AF AM AZ BD BH BN BT CC CN CX GE HK ID IL IN IO IQ IR JO JP KG KH KP KR KW KZ LA LB LK MM ' +
    'MN MO MV MY NP OM PH PK PS QA SA SG SY TH TJ TL TM TR TW UZ VN YE',
  EU:
    'AD AL AT AX BA BE BG BY CH CY CZ DE DK EE ES FI FO FR GB GG GI GR HR HU IE IM IS IT JE LI LT ' +
    'LU LV MC MD ME MK MT NL NO PL PT RO RS RU SE SI SJ SK SM UA VA XK',
  NA:
    'AG AI AW BB BL BM BQ BS BZ CA CR CU CW DM DO GD GL GP GT HN HT JM KN KY LC MF MQ MS MX NI PA ' +
    'PM PR SV SX TC TT US VC VG VI',
  OC: 'AS AU CK FJ FM GU KI MH MP NC NF NR NU NZ PF PG PN PW SB TK TO TV UM VU WF WS',
  SA: 'AR BO BR CL CO EC FK GF GY PE PY SR UY VE',
};

const TABLE: ReadonlyMap<string, Continent> = (() => {
  const m = new Map<string, Continent>();
  for (const [continent, codes] of Object.entries(BY_CONTINENT) as [Continent, string][]) {
    for (const code of codes.split(' ')) m.set(code, continent);
  }
  return m;
})();

/** Every country code known to the table (ISO 3166-1 alpha-2 plus XK). */
export const COUNTRY_CODES: readonly string[] = [...TABLE.keys()].sort();

/** The continent of an upper-case alpha-2 country code, null when the code is unknown. */
export function continentOf(country: string): Continent | null {
  return TABLE.get(country) ?? null;
}

/**
 * A country code from untrusted text (a header, a database record): two ASCII letters,
 * upper-cased, and known to the table. Null otherwise.
 */
export function normalizeCountry(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const v = value.length === 2 ? value : value.trim();
  if (v.length !== 2) return null;
  const up = v.toUpperCase();
  return TABLE.has(up) ? up : null;
}
