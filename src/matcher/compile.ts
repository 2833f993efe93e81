// Flag definitions → immutable Snapshot. Runs off the hot path (at load and on every change);
// per-flag problems become `rejected` entries so one bad flag never takes the others down.
import type { FlagActions, FlagDefinition } from '../flags/schema.js';
import { compileEndpointPatterns } from './glob.js';
import { CandidateIndex } from './prefilter.js';
import type { CompiledActions, CompiledFlag, CompiledVariant, Stickiness } from './compiledFlag.js';
import type { RejectedFlag, Snapshot, SnapshotMeta } from './snapshot.js';
import type { UaIndex, UaIndexParams, UaRangeInput } from './uaIndex.js';
import { DEFAULT_UA_INDEX_PARAMS } from './uaIndex.js';

/** How exemplar strings become vectors and vectors an index; injected to keep this module pure. */
export interface UaIndexBuilder {
  embed(userAgent: string): Float32Array;
  build(inputs: readonly UaRangeInput[], params: UaIndexParams): UaIndex;
}

export interface CompileOptions {
  readonly uaIndexBuilder?: UaIndexBuilder | null;
  readonly uaIndexParams?: UaIndexParams;
  /** Reuse the previous snapshot's UA index when the exemplars did not change. */
  readonly previous?: Snapshot | null;
  readonly now?: number;
}

const EMPTY_ACTIONS: CompiledActions = Object.freeze({
  route: null,
  setHeaders: Object.freeze([]) as readonly (readonly [string, string])[],
  removeHeaders: Object.freeze([]) as readonly string[],
});

function compileActions(actions: FlagActions | undefined, base: CompiledActions): CompiledActions {
  if (!actions) return base;
  const set = new Map(base.setHeaders);
  const remove = new Set(base.removeHeaders);
  for (const [name, value] of Object.entries(actions.requestHeaders?.set ?? {})) {
    set.set(name, value);
    remove.delete(name);
  }
  for (const name of actions.requestHeaders?.remove ?? []) {
    remove.add(name);
    set.delete(name);
  }
  return Object.freeze({
    route: actions.route?.cluster ?? base.route,
    setHeaders: Object.freeze([...set].map(([k, v]) => Object.freeze([k, v] as const))),
    removeHeaders: Object.freeze([...remove]),
  });
}

function parseStickiness(spec: string): Stickiness {
  if (spec.startsWith('header:')) return { kind: 'header', name: spec.slice(7).toLowerCase() };
  if (spec.startsWith('cookie:')) return { kind: 'cookie', name: spec.slice(7) };
  return { kind: 'client' };
}

function hourMask(min: number | undefined, max: number | undefined): Uint8Array {
  const lo = min ?? 0;
  const hi = max ?? 23;
  const hours = new Uint8Array(24);
  for (let h = 0; h < 24; h++) {
    // min > max wraps past midnight: 22..3 is 22,23,0,1,2,3.
    hours[h] = (lo <= hi ? h >= lo && h <= hi : h >= lo || h <= hi) ? 1 : 0;
  }
  return hours;
}

function trimTrailingSlash(pattern: string): string {
  return pattern.length > 1 && pattern.endsWith('/') ? pattern.slice(0, -1) : pattern;
}

/** The exemplar part of a flag, to tell whether the UA index must be rebuilt. */
function uaSignature(flags: readonly FlagDefinition[]): string {
  const parts: string[] = [];
  for (const f of flags) {
    const ua = f.profile.userAgent;
    if (f.enabled && ua) parts.push(JSON.stringify([f.name, ua.similarTo, ua.hashes, ua.maxDistance]));
  }
  return parts.join('\n');
}

interface SnapshotInternals {
  uaSignature: string;
}
const internals = new WeakMap<Snapshot, SnapshotInternals>();

function compileFlag(def: FlagDefinition, index: number, uaSlot: number): CompiledFlag {
  const p = def.profile;
  let totalWeight = 0;
  const method = p.method ? { values: new Set(p.method.in), weight: p.method.weight } : null;
  const endpoint = p.endpoint
    ? { pattern: compileEndpointPatterns(p.endpoint.in.map(trimTrailingSlash)), weight: p.endpoint.weight }
    : null;
  const geo = p.geo ? { values: new Set(p.geo.in), weight: p.geo.weight } : null;
  const payloadSize = p.payloadSize
    ? {
        min: p.payloadSize.min ?? 0,
        max: p.payloadSize.max ?? Number.POSITIVE_INFINITY,
        weight: p.payloadSize.weight,
      }
    : null;
  const timeOfDay = p.timeOfDay
    ? { hours: hourMask(p.timeOfDay.min, p.timeOfDay.max), weight: p.timeOfDay.weight }
    : null;
  const userAgent =
    p.userAgent && uaSlot >= 0
      ? { slot: uaSlot, maxDistance: p.userAgent.maxDistance, weight: p.userAgent.weight }
      : null;
  for (const dim of [method, endpoint, geo, payloadSize, timeOfDay]) {
    if (dim) totalWeight += dim.weight;
  }
  // A UA range without an index (no builder) still weighs in: its match is then 0.
  if (p.userAgent) totalWeight += p.userAgent.weight;

  const actions = compileActions(def.actions, EMPTY_ACTIONS);
  let variants: CompiledVariant[] | null = null;
  if (def.variants) {
    const sum = def.variants.reduce((s, v) => s + v.weight, 0);
    let acc = 0;
    variants = def.variants.map((v) => {
      acc += v.weight / sum;
      return Object.freeze({ name: v.name, upTo: acc, actions: compileActions(v.actions, actions) });
    });
    // Guard against floating-point shortfall on the last bucket.
    const last = variants[variants.length - 1]!;
    variants[variants.length - 1] = Object.freeze({ ...last, upTo: 1 });
  }

  return Object.freeze({
    name: def.name,
    index,
    value: def.value,
    priority: def.priority,
    threshold: def.threshold,
    totalWeight,
    method,
    endpoint,
    geo,
    payloadSize,
    timeOfDay,
    userAgent,
    actions,
    rolloutShare: def.rollout ? def.rollout.percent / 100 : 1,
    stickiness: parseStickiness(def.rollout?.stickiness ?? 'client'),
    variants: variants ? Object.freeze(variants) : null,
  });
}

/** Evaluation order: priority desc, then name (CONTRACT §3 tie-breaks finish on score later). */
function byPriorityThenName(a: FlagDefinition, b: FlagDefinition): number {
  return b.priority - a.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

/** Exemplars embedded between pauses of compileSnapshotAsync (each is a few µs). */
const EMBED_BATCH = 256;

/** What the compile steps ask of their driver: a pause, or a UA index built from inputs. */
type CompileRequest = { readonly pause: true } | { readonly pause: false; readonly inputs: readonly UaRangeInput[] };

/**
 * The compile, written once as steps: the sync driver runs them straight through; the async
 * driver yields to the event loop at each pause and builds the UA index off the main thread.
 */
function* compileSteps(
  definitions: readonly FlagDefinition[],
  meta: SnapshotMeta,
  options: CompileOptions,
): Generator<CompileRequest, Snapshot, UaIndex | null> {
  const rejected: RejectedFlag[] = [...meta.rejected];
  const seen = new Set<string>();
  const unique: FlagDefinition[] = [];
  for (const def of definitions) {
    if (seen.has(def.name)) {
      rejected.push({ key: def.name, reason: 'duplicate flag name; the first one is kept' });
      continue;
    }
    seen.add(def.name);
    unique.push(def);
  }
  const enabled = unique.filter((f) => f.enabled).sort(byPriorityThenName);

  // User-agent ranges get consecutive slots in the index. When the exemplars are those of the
  // previous snapshot, its index is reused and nothing is embedded again.
  const builder = options.uaIndexBuilder ?? null;
  const signature = uaSignature(enabled);
  const previous = options.previous ?? null;
  const reusable =
    previous && previous.uaIndex && internals.get(previous)?.uaSignature === signature ? previous.uaIndex : null;
  const uaInputs: UaRangeInput[] = [];
  const compiled: CompiledFlag[] = [];
  let embedded = 0;
  for (const def of enabled) {
    const ua = def.profile.userAgent;
    let slot = -1;
    if (ua && builder) {
      slot = uaInputs.length;
      if (reusable) {
        uaInputs.push({ slot, exemplars: [], hashes: ua.hashes, maxDistance: ua.maxDistance });
      } else {
        try {
          const exemplars = ua.similarTo.map((text) => builder.embed(text));
          uaInputs.push({ slot, exemplars, hashes: ua.hashes, maxDistance: ua.maxDistance });
        } catch (err) {
          rejected.push({ key: def.name, reason: `user-agent exemplars: ${(err as Error).message}` });
          continue;
        }
        embedded += ua.similarTo.length;
        if (embedded >= EMBED_BATCH) {
          embedded = 0;
          yield { pause: true };
        }
      }
    }
    compiled.push(compileFlag(def, compiled.length, slot));
  }

  let uaIndex: UaIndex | null = reusable;
  if (builder && uaInputs.length > 0 && !reusable) {
    try {
      uaIndex = yield { pause: false, inputs: uaInputs };
    } catch (err) {
      // The flags still serve; their user-agent dimension matches nothing until a rebuild.
      rejected.push({ key: '(user-agent index)', reason: `index build failed: ${(err as Error).message}` });
    }
  }

  const snapshot: Snapshot = Object.freeze({
    version: meta.version,
    source: meta.source,
    rejected: Object.freeze(rejected),
    compiledAt: options.now ?? Date.now(),
    flags: Object.freeze(compiled),
    flagCount: unique.length,
    uaIndex,
    prefilter: new CandidateIndex(compiled, uaIndex !== null),
  });
  internals.set(snapshot, { uaSignature: signature });
  return snapshot;
}

/** Compile in one go (tests, small flag sets). */
export function compileSnapshot(
  definitions: readonly FlagDefinition[],
  meta: SnapshotMeta,
  options: CompileOptions = {},
): Snapshot {
  const steps = compileSteps(definitions, meta, options);
  const params = options.uaIndexParams ?? DEFAULT_UA_INDEX_PARAMS;
  let step = steps.next();
  while (!step.done) {
    const request = step.value;
    if (request.pause) {
      step = steps.next(null);
      continue;
    }
    let index: UaIndex;
    try {
      index = options.uaIndexBuilder!.build(request.inputs, params);
    } catch (err) {
      step = steps.throw(err);
      continue;
    }
    step = steps.next(index);
  }
  return step.value;
}

export interface AsyncCompileOptions extends CompileOptions {
  /** Builds the UA index without blocking the event loop (e.g. on a worker thread). */
  readonly buildUaIndexAsync?: (inputs: readonly UaRangeInput[], params: UaIndexParams) => Promise<UaIndex>;
}

/**
 * Compile without holding the event loop for long: embedding pauses every few hundred
 * exemplars, and the UA index is built by `buildUaIndexAsync` when given. Requests keep being
 * answered from the current snapshot meanwhile.
 */
export async function compileSnapshotAsync(
  definitions: readonly FlagDefinition[],
  meta: SnapshotMeta,
  options: AsyncCompileOptions = {},
): Promise<Snapshot> {
  const steps = compileSteps(definitions, meta, options);
  const params = options.uaIndexParams ?? DEFAULT_UA_INDEX_PARAMS;
  let step = steps.next();
  while (!step.done) {
    const request = step.value;
    if (request.pause) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      step = steps.next(null);
      continue;
    }
    let index: UaIndex;
    try {
      index = options.buildUaIndexAsync
        ? await options.buildUaIndexAsync(request.inputs, params)
        : options.uaIndexBuilder!.build(request.inputs, params);
    } catch (err) {
      step = steps.throw(err);
      continue;
    }
    step = steps.next(index);
  }
  return step.value;
}
