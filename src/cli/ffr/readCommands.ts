// ffr's reading commands: get, list, export, proposals, history, status, version. They load
// neither the schema nor the change scripts, so they start fast.
import { isoSeconds, type AuditEntry } from '../../changes/flagReads.js';
import { fail, table, warn } from './output.js';
import type { Session } from './session.js';

/** The audit stream's cap: `list` and `history NAME` read all of it. */
export const AUDIT_MAXLEN = 10_000;

export async function cmdGet(s: Session, name: string, raw: boolean): Promise<string> {
  const stored = await s.reads.flagText(name);
  if (stored === null) fail(`no flag '${name}'`);
  if (!raw) {
    try {
      return `${JSON.stringify(JSON.parse(stored.text), null, 2)}\n`;
    } catch {
      // Not JSON: shown as stored.
    }
  }
  return `${stored.text}\n`;
}

/** The newest audit entry per flag name (and the newest import, name `*`). */
function lastChanges(audit: readonly AuditEntry[]): Map<string, AuditEntry> {
  const last = new Map<string, AuditEntry>();
  for (const entry of audit) if (entry.name !== '' && !last.has(entry.name)) last.set(entry.name, entry);
  return last;
}

/** Stream ids compare by their two numbers, not as text. */
function newer(a: AuditEntry, b: AuditEntry): AuditEntry {
  const [at, as] = a.id.split('-').map(Number);
  const [bt, bs] = b.id.split('-').map(Number);
  return at! > bt! || (at === bt && as! > bs!) ? a : b;
}

export async function cmdList(s: Session): Promise<string> {
  const [flags, audit] = await Promise.all([s.reads.flags(), s.reads.audit(AUDIT_MAXLEN)]);
  const last = lastChanges(audit);
  const rows = [['NAME', 'ENABLED', 'VALUE', 'PRIORITY', 'LAST CHANGE']];
  for (const f of flags) {
    // An import (name "*") newer than the flag's own last entry may have rewritten it.
    const own = last.get(f.name);
    const imported = last.get('*');
    const change = own && imported ? newer(own, imported) : (own ?? imported);
    const d = f.document;
    rows.push([
      f.name,
      d === null ? 'INVALID' : String(d['enabled']),
      d === null ? '-' : String(d['value'] ?? true),
      d === null ? '-' : String(d['priority'] ?? 0),
      change ? `${isoSeconds(change.time)} ${change.action} by ${change.who}` : '-',
    ]);
  }
  return table(rows);
}

export async function cmdExport(s: Session): Promise<string> {
  const doc = await s.reads.export();
  if (doc.invalid) warn(`not valid JSON, exported under "invalid": ${doc.invalid.map((i) => i.name).join(', ')}`);
  return `${JSON.stringify(doc, null, 2)}\n`;
}

type Dimension = { in?: unknown[]; min?: unknown; max?: unknown; similarTo?: unknown[] };

function summary(profile: unknown): string {
  if (profile === null || typeof profile !== 'object') return '';
  return Object.entries(profile as Record<string, Dimension | null>)
    .filter(([, v]) => v !== null && typeof v === 'object')
    .map(([k, v]) => {
      const d = v!;
      if (Array.isArray(d.in)) {
        const shown = d.in.slice(0, 4).map(String).join(',');
        return `${k}=${shown}${d.in.length > 4 ? ',...' : ''}`;
      }
      // Never the user agents themselves: only how many exemplars.
      if (k === 'userAgent') return `userAgent~${Array.isArray(d.similarTo) ? d.similarTo.length : 0} exemplars`;
      return `${k}=${String(d.min ?? '')}..${String(d.max ?? '')}`;
    })
    .join(' ');
}

export async function cmdProposals(s: Session): Promise<string> {
  const rows = [['ID', 'CREATED', 'NAME', 'SUPPORT', 'SCORE', 'SUMMARY']];
  for (const p of await s.reads.proposals()) {
    const d = p.document;
    const evidence = (d?.['evidence'] ?? {}) as Record<string, unknown>;
    rows.push([
      p.id,
      isoSeconds(p.createdAt),
      typeof d?.['name'] === 'string' ? d['name'] : '-',
      String(evidence['support'] ?? '-'),
      String(evidence['anomalyScore'] ?? evidence['score'] ?? '-'),
      d === null ? '(missing or invalid document)' : summary(d['profile'] ?? {}),
    ]);
  }
  return table(rows);
}

export async function cmdHistory(s: Session, name: string | null, count: number): Promise<string> {
  const entries = await s.reads.audit(name === null ? count : AUDIT_MAXLEN);
  const rows = [['TIME', 'WHO', 'ACTION', 'NAME', 'VERSION', 'DETAIL']];
  for (const e of entries.filter((x) => name === null || x.name === name || x.name === '*').slice(0, count)) {
    const detail = [e.reason, e.detail].filter((x): x is string => x !== null).join(': ');
    rows.push([
      isoSeconds(e.time),
      e.who,
      e.action,
      e.name === '' ? '-' : e.name,
      `${e.before} -> ${e.after}`,
      detail === '' ? '-' : detail,
    ]);
  }
  return table(rows);
}

export async function cmdVersion(s: Session): Promise<string> {
  const v = await s.reads.version();
  return `${v ?? '(none)'}\n`;
}

type Replica = Record<string, unknown> & { rejected?: { key?: string; reason?: string }[] };

export async function cmdStatus(s: Session, now: number = Date.now()): Promise<string> {
  const [version, flags, replicas] = await Promise.all([
    s.reads.version(),
    s.reads.flags(),
    s.reads.replicas() as Promise<Replica[]>,
  ]);
  let out = '';
  out += `redis     ${s.target} (prefix ${s.keys.prefix})\n`;
  out += `version   ${version ?? '(none)'}\n`;
  out += `flags     ${flags.length} stored\n`;
  out += `replicas  ${replicas.length} reporting\n`;
  const served = Math.max(0, ...replicas.map((r) => Number(r['version'] ?? 0) || 0));
  const alarm =
    replicas.some((r) => r['dataLossSuspected'] === true) ||
    (version === null && flags.length === 0 && replicas.some((r) => Number(r['version'] ?? 0) > 0));
  if (alarm) {
    out +=
      `ALARM     data loss suspected: Redis lost its flags (version key gone) while replicas serve version ${served}. ` +
      'They keep serving it; restore with: ffr import BACKUP.json\n';
  }
  out += '\n';
  if (replicas.length === 0) return `${out}no sidecar has reported (status keys expire after about 3 resync periods)\n`;
  const rows = [['REPLICA', 'VERSION', 'SYNCED', 'STALE', 'FEED', 'FLAGS', 'REJECTED', 'DATA LOSS', 'LAST ERROR']];
  for (const r of replicas) {
    const lastSyncAt = r['lastSyncAt'];
    rows.push([
      String(r['replica'] ?? '-'),
      String(r['version'] ?? '-'),
      typeof lastSyncAt === 'number' ? `${Math.floor(Math.max(0, now - lastSyncAt) / 1000)}s ago` : 'never',
      r['stale'] === true ? 'STALE' : 'no',
      r['feedConnected'] === true ? 'up' : 'down',
      String(r['flagCount'] ?? '-'),
      String(Array.isArray(r.rejected) ? r.rejected.length : 0),
      r['dataLossSuspected'] === true ? 'SUSPECTED' : 'no',
      typeof r['lastError'] === 'string' ? r['lastError'] : '-',
    ]);
  }
  out += table(rows);
  // One line per distinct rejection, with the replicas that reported it.
  const byReason = new Map<string, { key: string; reason: string; who: string[] }>();
  for (const r of replicas) {
    for (const rej of Array.isArray(r.rejected) ? r.rejected : []) {
      const k = `${rej.key}\u0000${rej.reason}`;
      const entry = byReason.get(k) ?? { key: String(rej.key), reason: String(rej.reason), who: [] };
      entry.who.push(String(r['replica']));
      byReason.set(k, entry);
    }
  }
  if (byReason.size > 0) {
    out += '\nrejected flags (as the sidecars last saw them):\n';
    const sorted = [...byReason.values()].sort((a, b) =>
      a.key < b.key ? -1 : a.key > b.key ? 1 : a.reason < b.reason ? -1 : 1,
    );
    for (const e of sorted) out += `  ${e.key}: ${e.reason}  [${e.who.join(', ')}]\n`;
  }
  return out;
}
