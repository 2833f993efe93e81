// Flag evaluation versus peers, in one process and without any network: the same targeting
// (method in a set, path prefix, country in a set, payload-size range, hour range) written as
//   - proflag flag JSON, compiled into a snapshot and evaluated with decide();
//   - flagd (@openfeature/flagd-core): JSON Logic targeting, resolveBooleanEvaluation();
//   - Unleash (unleash-client): a 'default' strategy with constraints, evaluated by the SDK's
//     own UnleashClient over an in-memory repository (the SDK's lowest evaluation layer; the
//     public Unleash class adds a context copy and metrics counting on top);
//   - GrowthBook (@growthbook/growthbook): a force rule with a condition, GrowthBookClient
//     (the server-side multi-user client) initialised synchronously, evalFeature().
// Every engine gets the same pre-built contexts in its own format (built before timing). The
// path prefix is given to the peers as `pathSlash` (normalized path + '/'), so that their
// single starts-with test means exactly what proflag's `/prefix/**` pattern means (the prefix
// itself or anything below it). Before timing, every engine's answers are compared with
// proflag's on every context and flag; the comparison is only fair when they all agree.
import { createRequire } from 'node:module';
import { EventEmitter } from 'node:events';
import { FlagdCore } from '@openfeature/flagd-core';
import { GrowthBookClient } from '@growthbook/growthbook';
import type { Context as UnleashContext } from 'unleash-client';
import type { HeaderLookup, RequestProfile } from '../src/features/profile.js';
import { parseFlagValue, type FlagDefinition } from '../src/flags/schema.js';
import { compileSnapshot } from '../src/matcher/compile.js';
import { decide, evaluateFlag } from '../src/matcher/match.js';
import { createRng, intBetween, median, nowNs, pick, sample } from './lib/stats.js';

export interface PeersBenchOptions {
  readonly quick: boolean;
  readonly rounds: number;
  readonly log: (line: string) => void;
}

export interface PeerFigures {
  nsPerFlag: number;
  /** (context, flag) pairs where the engine's answer differs from proflag's. */
  disagreements: number;
}

export interface PeersResult {
  contexts: number;
  flags: number;
  /** Share of (context, flag) pairs that match: both branches get exercised. */
  matchShare: number;
  /** proflag per flag: decide() over the snapshot, divided by the number of flags. */
  proflag: { nsPerFlag: number; evaluateFlagNsPerFlag: number };
  flagd: PeerFigures;
  unleash: PeerFigures;
  growthbook: PeerFigures;
  fastestPeerNsPerFlag: number;
  /** Fastest peer's ns per flag / proflag's (decide); and the same with evaluateFlag. */
  ratio: number;
  ratioEvaluateFlag: number;
}

const METHOD_SETS = [['GET'], ['POST'], ['GET', 'HEAD'], ['POST', 'PUT'], ['PUT', 'PATCH', 'DELETE']];
const PREFIXES = [
  '/api/v1/orders',
  '/api/v1/products',
  '/api/v2/users',
  '/api/v1/cart',
  '/checkout',
  '/api/v2/search',
  '/static',
  '/api/v1/payments',
];
const PATHS = [
  '/api/v1/orders',
  '/api/v1/orders/{id}',
  '/api/v1/orders/{id}/items',
  '/api/v1/ordersarchive',
  '/api/v1/products/{id}',
  '/api/v1/products/{id}/reviews',
  '/api/v2/users/{id}',
  '/api/v2/users',
  '/api/v1/cart',
  '/api/v1/cart/items',
  '/checkout',
  '/checkout/confirm',
  '/api/v2/search',
  '/static/js/app.js',
  '/api/v1/payments/{id}',
  '/health',
];
const COUNTRIES = ['US', 'DE', 'GB', 'FR', 'JP', 'CN', 'BR', 'IN', 'CA', 'NL', 'SE', 'IT', 'ES', 'KR', 'AU', 'MX'];
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'];

interface Targeting {
  readonly key: string;
  readonly methods: readonly string[];
  readonly prefix: string;
  readonly countries: readonly string[];
  readonly size: readonly [number, number];
  readonly hours: readonly [number, number];
}

interface Ctx {
  readonly method: string;
  readonly path: string;
  readonly country: string;
  readonly size: number;
  readonly hour: number;
}

function makeTargetings(count: number, rng: () => number): Targeting[] {
  return Array.from({ length: count }, (_, i) => {
    const lo = intBetween(rng, 0, 2_000);
    const h1 = intBetween(rng, 0, 20);
    return {
      key: `peer-${String(i).padStart(2, '0')}`,
      methods: pick(rng, METHOD_SETS),
      prefix: pick(rng, PREFIXES),
      countries: sample(rng, COUNTRIES, intBetween(rng, 2, 6)),
      size: [lo, lo + intBetween(rng, 100, 50_000)] as const,
      hours: [h1, intBetween(rng, h1, 23)] as const,
    };
  });
}

/** Half the contexts are built to match a flag (then nudged), half are random. */
function makeContexts(count: number, targetings: readonly Targeting[], rng: () => number): Ctx[] {
  return Array.from({ length: count }, () => {
    let method = pick(rng, METHODS);
    let path = pick(rng, PATHS);
    let country = pick(rng, COUNTRIES);
    let size = intBetween(rng, 0, 60_000);
    let hour = intBetween(rng, 0, 23);
    if (rng() < 0.5) {
      const t = pick(rng, targetings);
      if (rng() < 0.8) method = pick(rng, t.methods);
      if (rng() < 0.8) path = rng() < 0.3 ? t.prefix : `${t.prefix}/{id}`;
      if (rng() < 0.8) country = pick(rng, t.countries);
      if (rng() < 0.8) size = intBetween(rng, t.size[0], t.size[1]);
      if (rng() < 0.8) hour = intBetween(rng, t.hours[0], t.hours[1]);
    }
    return { method, path, country, size, hour };
  });
}

// ---- proflag --------------------------------------------------------------------------------

function proflagFlags(targetings: readonly Targeting[]): FlagDefinition[] {
  return targetings.map((t) => {
    const parsed = parseFlagValue({
      name: t.key,
      enabled: true,
      value: true,
      profile: {
        method: { in: t.methods },
        endpoint: { in: [`${t.prefix}/**`] },
        geo: { in: t.countries },
        payloadSize: { min: t.size[0], max: t.size[1] },
        timeOfDay: { min: t.hours[0], max: t.hours[1] },
      },
    });
    if (!parsed.ok) throw new Error(`peer flag ${t.key}: ${JSON.stringify(parsed.issues)}`);
    return parsed.flag;
  });
}

function proflagProfile(c: Ctx, i: number): RequestProfile {
  return {
    method: c.method,
    endpoint: c.path,
    payloadSize: c.size,
    sizeBin: null,
    hour: c.hour,
    hourBin: c.hour,
    country: c.country,
    continent: null,
    uaHash: null,
    uaVector: null,
    clientKey: `client-${i}`,
  };
}

// ---- flagd ----------------------------------------------------------------------------------

function flagdConfig(targetings: readonly Targeting[]): string {
  const flags: Record<string, unknown> = {};
  for (const t of targetings) {
    flags[t.key] = {
      state: 'ENABLED',
      variants: { on: true, off: false },
      defaultVariant: 'off',
      targeting: {
        if: [
          {
            and: [
              { in: [{ var: 'method' }, t.methods] },
              { starts_with: [{ var: 'pathSlash' }, `${t.prefix}/`] },
              { in: [{ var: 'country' }, t.countries] },
              { '<=': [t.size[0], { var: 'size' }, t.size[1]] },
              { '<=': [t.hours[0], { var: 'hour' }, t.hours[1]] },
            ],
          },
          'on',
          'off',
        ],
      },
    };
  }
  return JSON.stringify({ flags });
}

// ---- Unleash --------------------------------------------------------------------------------

interface UnleashFeature {
  name: string;
  enabled: boolean;
  strategies: { name: string; parameters: Record<string, unknown>; constraints: Record<string, unknown>[] }[];
  variants: never[];
}
type UnleashEvaluator = { isEnabled(name: string, context: UnleashContext, fallback: () => boolean): boolean };

function unleashEvaluator(targetings: readonly Targeting[]): UnleashEvaluator {
  const require = createRequire(import.meta.url);
  // The SDK's evaluation core, with the built-in strategies; no Unleash instance, no fetcher.
  const { default: UnleashClient } = require('unleash-client/lib/client') as {
    default: new (repository: unknown, strategies: unknown[]) => UnleashEvaluator;
  };
  const { defaultStrategies } = require('unleash-client/lib/strategy/index') as { defaultStrategies: unknown[] };
  const num = (contextName: string, operator: string, value: number) => ({
    contextName,
    operator,
    value,
    values: [],
    inverted: false,
  });
  const toggles = new Map<string, UnleashFeature>();
  for (const t of targetings) {
    toggles.set(t.key, {
      name: t.key,
      enabled: true,
      variants: [],
      strategies: [
        {
          name: 'default',
          parameters: {},
          constraints: [
            { contextName: 'method', operator: 'IN', values: [...t.methods], inverted: false },
            { contextName: 'pathSlash', operator: 'STR_STARTS_WITH', values: [`${t.prefix}/`], inverted: false },
            { contextName: 'country', operator: 'IN', values: [...t.countries], inverted: false },
            num('size', 'NUM_GTE', t.size[0]),
            num('size', 'NUM_LTE', t.size[1]),
            num('hour', 'NUM_GTE', t.hours[0]),
            num('hour', 'NUM_LTE', t.hours[1]),
          ],
        },
      ],
    });
  }
  // What the SDK's Repository offers the client, from memory: nothing is ever fetched.
  const repository = Object.assign(new EventEmitter(), {
    getToggle: (name: string) => toggles.get(name),
    getToggles: () => [...toggles.values()],
    getTogglesWithSegmentData: () => [...toggles.values()],
    getSegment: () => undefined,
    stop() {},
    async start() {},
  });
  return new UnleashClient(repository, defaultStrategies);
}

// ---- GrowthBook -----------------------------------------------------------------------------

function growthbookClient(targetings: readonly Targeting[]): GrowthBookClient {
  const features: Record<string, unknown> = {};
  for (const t of targetings) {
    features[t.key] = {
      defaultValue: false,
      rules: [
        {
          condition: {
            method: { $in: t.methods },
            pathSlash: { $regex: `^${t.prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/` },
            country: { $in: t.countries },
            size: { $gte: t.size[0], $lte: t.size[1] },
            hour: { $gte: t.hours[0], $lte: t.hours[1] },
          },
          force: true,
        },
      ],
    };
  }
  // initSync with a payload and no client key: no fetch, no streaming, no background sync.
  return new GrowthBookClient({}).initSync({ payload: { features: features as never }, streaming: false });
}

// ---- the bench ------------------------------------------------------------------------------

const NO_HEADERS: HeaderLookup = { get: () => undefined };

export async function runPeersBench(opts: PeersBenchOptions): Promise<PeersResult> {
  const { log } = opts;
  const rng = createRng(23);
  const flagCount = 20;
  const targetings = makeTargetings(flagCount, rng);
  const contexts = makeContexts(opts.quick ? 2_000 : 10_000, targetings, rng);
  const keys = targetings.map((t) => t.key);
  const keyIndex = new Map(keys.map((k, i) => [k, i]));

  const snapshot = compileSnapshot(proflagFlags(targetings), { version: 1, source: 'bench', rejected: [] });
  const profiles = contexts.map(proflagProfile);
  const flagd = new FlagdCore();
  flagd.setConfigurations(flagdConfig(targetings));
  const flagdContexts = contexts.map((c, i) => ({
    targetingKey: `user-${i}`,
    method: c.method,
    pathSlash: `${c.path}/`,
    country: c.country,
    size: c.size,
    hour: c.hour,
  }));
  const unleash = unleashEvaluator(targetings);
  const unleashContexts: UnleashContext[] = contexts.map((c, i) => ({
    userId: `user-${i}`,
    properties: { method: c.method, pathSlash: `${c.path}/`, country: c.country, size: c.size, hour: c.hour },
  }));
  const off = () => false;
  const growthbook = growthbookClient(targetings);
  const gbContexts = contexts.map((c, i) => ({
    attributes: {
      id: `user-${i}`,
      method: c.method,
      pathSlash: `${c.path}/`,
      country: c.country,
      size: c.size,
      hour: c.hour,
    },
  }));

  // Answers as one bit per (context, flag); every engine against proflag's.
  const answers = (evaluate: (ctx: number, flag: number) => boolean): Uint8Array => {
    const out = new Uint8Array(contexts.length * flagCount);
    for (let c = 0; c < contexts.length; c++)
      for (let f = 0; f < flagCount; f++) out[c * flagCount + f] = evaluate(c, f) ? 1 : 0;
    return out;
  };
  const reference = new Uint8Array(contexts.length * flagCount);
  for (let c = 0; c < contexts.length; c++) {
    for (const m of decide(snapshot, profiles[c]!, NO_HEADERS).matches)
      reference[c * flagCount + keyIndex.get(m.flag.name)!] = 1;
  }
  const disagreements = (got: Uint8Array) => got.reduce((n, v, i) => n + (v !== reference[i] ? 1 : 0), 0);
  const flagdAnswers = answers((c, f) => flagd.resolveBooleanEvaluation(keys[f]!, false, flagdContexts[c]!).value);
  const unleashAnswers = answers((c, f) => unleash.isEnabled(keys[f]!, unleashContexts[c]!, off));
  const gbAnswers = answers((c, f) => growthbook.evalFeature(keys[f]!, gbContexts[c]!).on);
  const flagByKey = keys.map((k) => snapshot.flags.find((x) => x.name === k)!);
  const evaluateAnswers = answers((c, f) => evaluateFlag(flagByKey[f]!, profiles[c]!, NO_HEADERS, null) !== null);
  const matchShare = reference.reduce((n, v) => n + v, 0) / reference.length;
  const agree = {
    flagd: disagreements(flagdAnswers),
    unleash: disagreements(unleashAnswers),
    growthbook: disagreements(gbAnswers),
    evaluateFlag: disagreements(evaluateAnswers),
  };
  log(
    `peers: ${contexts.length} contexts × ${flagCount} flags, ${(matchShare * 100).toFixed(1)}% match; disagreements ${JSON.stringify(agree)}`,
  );

  // Timed passes: each engine evaluates every flag for every context; ns per evaluation.
  let sink = 0;
  const engines: Record<string, () => void> = {
    proflag: () => {
      for (let c = 0; c < profiles.length; c++) sink += decide(snapshot, profiles[c]!, NO_HEADERS).matches.length;
    },
    proflagEvaluateFlag: () => {
      const flags = snapshot.flags;
      for (let c = 0; c < profiles.length; c++) {
        for (let f = 0; f < flags.length; f++) if (evaluateFlag(flags[f]!, profiles[c]!, NO_HEADERS, null)) sink++;
      }
    },
    flagd: () => {
      for (let c = 0; c < flagdContexts.length; c++) {
        for (let f = 0; f < flagCount; f++)
          if (flagd.resolveBooleanEvaluation(keys[f]!, false, flagdContexts[c]!).value) sink++;
      }
    },
    unleash: () => {
      for (let c = 0; c < unleashContexts.length; c++) {
        for (let f = 0; f < flagCount; f++) if (unleash.isEnabled(keys[f]!, unleashContexts[c]!, off)) sink++;
      }
    },
    growthbook: () => {
      for (let c = 0; c < gbContexts.length; c++) {
        for (let f = 0; f < flagCount; f++) if (growthbook.evalFeature(keys[f]!, gbContexts[c]!).on) sink++;
      }
    },
  };
  const names = Object.keys(engines);
  const perFlag: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (const name of names) engines[name]!(); // warm-up pass
  for (let round = 0; round < opts.rounds; round++) {
    // Rotate the order so that no engine always runs first (or last) in a round.
    for (let k = 0; k < names.length; k++) {
      const name = names[(k + round) % names.length]!;
      const t0 = nowNs();
      engines[name]!();
      perFlag[name]!.push((nowNs() - t0) / (contexts.length * flagCount));
    }
  }
  if (sink < 0) log(String(sink));
  const ns = (name: string) => median(perFlag[name]!);
  const fastest = Math.min(ns('flagd'), ns('unleash'), ns('growthbook'));
  return {
    contexts: contexts.length,
    flags: flagCount,
    matchShare,
    proflag: { nsPerFlag: ns('proflag'), evaluateFlagNsPerFlag: ns('proflagEvaluateFlag') },
    flagd: { nsPerFlag: ns('flagd'), disagreements: agree.flagd },
    unleash: { nsPerFlag: ns('unleash'), disagreements: agree.unleash },
    growthbook: { nsPerFlag: ns('growthbook'), disagreements: agree.growthbook },
    fastestPeerNsPerFlag: fastest,
    ratio: fastest / ns('proflag'),
    ratioEvaluateFlag: fastest / ns('proflagEvaluateFlag'),
  };
}
