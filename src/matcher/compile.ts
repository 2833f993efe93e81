// Flag definitions → immutable Snapshot. Runs off the hot path (at load and on every change);
// per-flag problems become `rejected` entries so one bad flag never takes the others down.
import type { FlagActions, FlagDefinition } from '../flags/schema.js';
import { compileEndpointPatterns } from './glob.js';
import { CandidateIndex } from './prefilter.js';
import type {
  CompiledActions,
  CompiledExperiment,
  CompiledFlag,
  CompiledRespond,
  CompiledVariant,
  Stickiness,
} from './compiledFlag.js';
import { RespondLimiter, type RespondLimit } from './respondLimiter.js';
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

const NO_PAIRS = Object.freeze([]) as readonly (readonly [string, string])[];
const NO_NAMES = Object.freeze([]) as readonly string[];

export const EMPTY_ACTIONS: CompiledActions = Object.freeze({
  route: null,
  setHeaders: NO_PAIRS,
  removeHeaders: NO_NAMES,
  respond: null,
  rewritePath: null,
  responseSetHeaders: NO_PAIRS,
  responseRemoveHeaders: NO_NAMES,
});

const pairs = (map: ReadonlyMap<string, string>) =>
  map.size === 0 ? NO_PAIRS : Object.freeze([...map].map(([k, v]) => Object.freeze([k, v] as const)));

/** `change` over `base` (set and remove lists): what is set last wins, a removal unsets. */
function mergeHeaderChanges(
  baseSet: readonly (readonly [string, string])[],
  baseRemove: readonly string[],
  change: { set: Record<string, string>; remove: string[] } | undefined,
): { set: readonly (readonly [string, string])[]; remove: readonly string[] } {
  if (!change) return { set: baseSet, remove: baseRemove };
  const set = new Map(baseSet);
  const remove = new Set(baseRemove);
  for (const [name, value] of Object.entries(change.set)) {
    set.set(name, value);
    remove.delete(name);
  }
  for (const name of change.remove) {
    remove.add(name);
    set.delete(name);
  }
  return { set: pairs(set), remove: remove.size === 0 ? NO_NAMES : Object.freeze([...remove]) };
}

function compileRespond(respond: NonNullable<FlagActions['respond']>): CompiledRespond {
  return Object.freeze({
    status: respond.status,
    headers: pairs(new Map(Object.entries(respond.headers))),
    body: respond.body,
    details: respond.details ?? null,
  });
}

/** A variant's actions are merged over its flag's: the variant's respond, rewrite or route wins. */
function compileActions(actions: FlagActions | undefined, base: CompiledActions): CompiledActions {
  if (!actions) return base;
  const request = mergeHeaderChanges(base.setHeaders, base.removeHeaders, actions.requestHeaders);
  const response = mergeHeaderChanges(base.responseSetHeaders, base.responseRemoveHeaders, actions.responseHeaders);
  return Object.freeze({
    route: actions.route?.cluster ?? base.route,
    setHeaders: request.set,
    removeHeaders: request.remove,
    respond: actions.respond ? compileRespond(actions.respond) : base.respond,
    rewritePath: actions.rewritePath
      ? Object.freeze({ prefix: actions.rewritePath.prefix, to: actions.rewritePath.to })
      : base.rewritePath,
    responseSetHeaders: response.set,
    responseRemoveHeaders: response.remove,
  });
}

function compileExperiment(def: FlagDefinition): CompiledExperiment | null {
  const experiment = def.experiment;
  const variants = def.variants;
  if (!experiment || !variants) return null;
  // The schema makes sure that control names a variant.
  const controlIndex = variants.findIndex((v) => v.name === experiment.control);
  if (controlIndex < 0) return null;
  return Object.freeze({
    control: experiment.control,
    controlIndex,
    guardrails: Object.freeze(experiment.guardrails.map((g) => Object.freeze({ ...g }))),
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

function compileFlag(def: FlagDefinition, index: number, uaSlot: number, respondSlot: number): CompiledFlag {
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
    mode: def.mode,
    respondLimit:
      def.respondLimit && respondSlot >= 0
        ? Object.freeze({ perSecond: def.respondLimit.perSecond, slot: respondSlot })
        : null,
    experiment: compileExperiment(def),
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
  const respondLimits: RespondLimit[] = [];
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
    let respondSlot = -1;
    if (def.respondLimit) {
      respondSlot = respondLimits.length;
      respondLimits.push({ name: def.name, perSecond: def.respondLimit.perSecond });
    }
    compiled.push(compileFlag(def, compiled.length, slot, respondSlot));
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

  // Last step, just before the swap: the buckets continue from those the old snapshot kept
  // using while this one compiled.
  const respondLimiter = new RespondLimiter(respondLimits);
  if (previous?.respondLimiter) respondLimiter.inherit(previous.respondLimiter);

  const snapshot: Snapshot = Object.freeze({
    version: meta.version,
    source: meta.source,
    rejected: Object.freeze(rejected),
    compiledAt: options.now ?? Date.now(),
    flags: Object.freeze(compiled),
    flagCount: unique.length,
    uaIndex,
    prefilter: new CandidateIndex(compiled, uaIndex !== null),
    respondLimiter,
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
