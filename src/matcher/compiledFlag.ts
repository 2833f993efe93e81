// The compiled, read-only form of one flag: everything a request needs, precomputed.
// Every field is always present (null when unused) so that all flags share one shape.

/** An immediate reply (CONTRACT §6): ends the request in the request-headers phase. */
export interface CompiledRespond {
  /** 200-599. */
  readonly status: number;
  /** [name, value] pairs of the reply, names lower-case and validated. */
  readonly headers: readonly (readonly [string, string])[];
  /** UTF-8 text, at most 4 KiB ('' for none). */
  readonly body: string;
  /** Envoy's %RESPONSE_CODE_DETAILS%, null when the flag gives none. */
  readonly details: string | null;
}

/** Replace a leading `prefix` of the raw `:path` with `to` (query kept). */
export interface CompiledRewrite {
  readonly prefix: string;
  readonly to: string;
}

export interface CompiledActions {
  /** Upstream cluster override, null when the flag does not route. */
  readonly route: string | null;
  /** [name, value] pairs, names lower-case and validated. */
  readonly setHeaders: readonly (readonly [string, string])[];
  readonly removeHeaders: readonly string[];
  readonly respond: CompiledRespond | null;
  readonly rewritePath: CompiledRewrite | null;
  /** Changes to the upstream's response headers. */
  readonly responseSetHeaders: readonly (readonly [string, string])[];
  readonly responseRemoveHeaders: readonly string[];
}

export type FlagMode = 'enforce' | 'shadow';

/** One experiment guardrail (CONTRACT §7). */
export interface Guardrail {
  readonly metric: 'errorRate' | 'latencyP95';
  readonly maxRelativeIncrease: number;
  readonly minRequests: number;
  readonly pValue: number;
}

export interface CompiledExperiment {
  /** Name of the control variant. */
  readonly control: string;
  /** Its position in `variants` (FlagMatch.variantIndex numbering). */
  readonly controlIndex: number;
  readonly guardrails: readonly Guardrail[];
}

export interface CompiledVariant {
  readonly name: string;
  /** Upper bound of this variant's share on the [0, 1) bucket line. */
  readonly upTo: number;
  /** The flag's actions with the variant's merged over them. */
  readonly actions: CompiledActions;
}

export type Stickiness =
  | { readonly kind: 'client' }
  | { readonly kind: 'header'; readonly name: string }
  | { readonly kind: 'cookie'; readonly name: string };

export interface WeightedSet {
  readonly values: ReadonlySet<string>;
  readonly weight: number;
}

export interface WeightedRange {
  readonly min: number;
  readonly max: number;
  readonly weight: number;
}

export interface CompiledFlag {
  readonly name: string;
  /** Position in snapshot.flags. */
  readonly index: number;
  readonly value: boolean | string | number;
  readonly priority: number;
  readonly threshold: number;
  /** Σ weights of the defined dimensions; 0 means "no profile": every request scores 1. */
  readonly totalWeight: number;
  readonly method: WeightedSet | null;
  readonly endpoint: { readonly pattern: RegExp; readonly weight: number } | null;
  readonly geo: WeightedSet | null;
  readonly payloadSize: WeightedRange | null;
  /** 24 entries, 1 where the hour is inside the (possibly wrapping) window. */
  readonly timeOfDay: { readonly hours: Uint8Array; readonly weight: number } | null;
  /** Slot in the snapshot's UA index, with the reach of the range. */
  readonly userAgent: { readonly slot: number; readonly maxDistance: number; readonly weight: number } | null;
  readonly actions: CompiledActions;
  /** Share of matching units that get the flag, in [0, 1]; 1 without a rollout. */
  readonly rolloutShare: number;
  readonly stickiness: Stickiness;
  readonly variants: readonly CompiledVariant[] | null;
  /** `shadow`: evaluated and counted, never applied nor listed in the flags header. */
  readonly mode: FlagMode;
  /** The flag's token bucket: replies per second and its slot in snapshot.respondLimiter. */
  readonly respondLimit: { readonly perSecond: number; readonly slot: number } | null;
  readonly experiment: CompiledExperiment | null;
}
