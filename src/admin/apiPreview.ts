// "This range would have matched N of the last M sampled requests": a bounded ring of recent
// request profiles (derived fields only, as the learner sees them: method, normalized path,
// country, size, hour, keyed UA hash and embedding; never a raw user agent or IP), and the
// matcher's own scoring of a proposal's range against them.
//
// The ring is fed from the learner's sink on the request path, so it costs one counter check
// and one array store per request, with its own per-second cap (no clock read: a timer opens
// each window).
import type { ProfileSink } from '../extproc/requestProcessor.js';
import type { RequestProfile } from '../features/profile.js';
import { embedUserAgent } from '../features/userAgent.js';
import { parseFlagValue, type FlagDefinition } from '../flags/schema.js';
import { compileSnapshot } from '../matcher/compile.js';
import { scoreFlag } from '../matcher/match.js';
import type { Snapshot } from '../matcher/snapshot.js';
import { buildUaIndex } from '../matcher/uaIndexImpl.js';

export interface RecentProfilesOptions {
  /** Profiles kept. Default 2,000. */
  readonly capacity?: number;
  /** Profiles taken per second at most (the rest pass by). Default 100. */
  readonly maxPerSecond?: number;
  /** Start the one-second window timer. Default true (tests call resetWindow themselves). */
  readonly timer?: boolean;
}

export class RecentProfiles {
  readonly #ring: (RequestProfile | undefined)[];
  readonly #maxPerSecond: number;
  readonly #timer: NodeJS.Timeout | null;
  #next = 0;
  #size = 0;
  #windowCount = 0;
  /** Bumped on every store: previews computed at the same generation are still current. */
  #generation = 0;

  constructor(options: RecentProfilesOptions = {}) {
    this.#ring = new Array<RequestProfile | undefined>(options.capacity ?? 2_000);
    this.#maxPerSecond = options.maxPerSecond ?? 100;
    // A timer opens each one-second window, so the request path reads no clock.
    this.#timer = options.timer === false ? null : setInterval(() => this.resetWindow(), 1000);
    this.#timer?.unref();
  }

  resetWindow(): void {
    this.#windowCount = 0;
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
  }

  get capacity(): number {
    return this.#ring.length;
  }

  get size(): number {
    return this.#size;
  }

  get generation(): number {
    return this.#generation;
  }

  add(profile: RequestProfile): void {
    if (this.#windowCount >= this.#maxPerSecond) return;
    this.#windowCount++;
    this.#ring[this.#next] = profile;
    this.#next = (this.#next + 1) % this.#ring.length;
    if (this.#size < this.#ring.length) this.#size++;
    this.#generation++;
  }

  /** A sink that feeds this ring and then `next` (the learner's), or only this ring. */
  tap(next: ProfileSink | null): ProfileSink {
    if (next === null) return (profile) => this.add(profile);
    return (profile) => {
      this.add(profile);
      next(profile);
    };
  }

  forEach(f: (p: RequestProfile) => void): void {
    for (let i = 0; i < this.#size; i++) f(this.#ring[i]!);
  }
}

export interface RangePreview {
  /** Samples the range matches (score ≥ threshold). */
  readonly matched: number;
  /** Samples looked at. */
  readonly of: number;
}

/** Compiles a proposal's range the way the sidecar would serve it, enabled. */
export function compileRange(document: unknown): Snapshot | { error: string } {
  const parsed = parseFlagValue({ ...(document as object), enabled: true });
  if (!parsed.ok) return { error: parsed.issues.map((i) => `${i.path}: ${i.message}`).join('; ') };
  const flag: FlagDefinition = { ...parsed.flag, rollout: undefined };
  return compileSnapshot(
    [flag],
    { version: null, source: 'preview', rejected: [] },
    { uaIndexBuilder: { embed: embedUserAgent, build: buildUaIndex } },
  );
}

/** How many of the recent profiles the compiled range would match (rollouts ignored). */
export function previewRange(compiled: Snapshot, recent: RecentProfiles): RangePreview {
  const flag = compiled.flags[0];
  if (!flag) return { matched: 0, of: recent.size };
  let matched = 0;
  recent.forEach((profile) => {
    const distances = compiled.uaIndex ? compiled.uaIndex.nearestDistances(profile.uaVector, profile.uaHash) : null;
    if (scoreFlag(flag, profile, distances) >= flag.threshold) matched++;
  });
  return { matched, of: recent.size };
}
