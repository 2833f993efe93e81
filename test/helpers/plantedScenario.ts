// The learner's planted-traffic scenario, as the tests that need a learned proposal play it:
// a sidecar whose learner takes every request and needs a shorter baseline than production,
// a bench scenario (background traffic, then a planted pattern) sent through the Envoy
// emulator 32 requests at a time with the sidecar's clock at each batch's first request, and
// the wait for the proposal the learner writes to Redis; learningOnRedis puts them together
// for a describe block on a test Redis.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect } from 'vitest';
import { PATTERNS } from '../../bench/scenarios/catalog.js';
import {
  generateScenario,
  type RawRequest,
  type ScenarioEvent,
  type ScenarioSpec,
} from '../../bench/scenarios/generator.js';
import { loadConfig } from '../../src/config/config.js';
import { createProfileDetector } from '../../src/learner/core/detector/profileDetector.js';
import { startSidecar, type Sidecar, type SidecarOptions } from '../../src/sidecar.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { e2eEnv } from '../e2e/routingTable.js';
import { EnvoyEmulator, type EmulatedOutcome, type EmulatedRequest, type EmulatorOptions } from './envoyEmulator.js';
import { testRedis, type TestRedis } from './redis.js';
import { until } from './until.js';

/** Requests the emulator sends at once while a scenario plays. */
const BATCH = 32;

/** 4,500 requests: 3,000 background ones, then a Go-http-client family from BR logging in at 5 %. */
export function plantedSpec(name: string, seed: number): ScenarioSpec {
  return {
    name,
    seed,
    requests: 4_500,
    planted: [{ ...PATTERNS['new-family-1pct']!(3_000), name: 'bot', share: 0.05 }],
  };
}

/**
 * A sidecar with the in-process learner on: no sampling limit, a queue for the whole scenario,
 * and a shorter baseline than production (detector window 1,000 instead of 10,000), so that a
 * few thousand requests through the emulator are enough. `env` names the store and anything
 * else the test needs; `options` adds to startSidecar's.
 */
export function startLearningSidecar(
  env: Record<string, string>,
  now: () => number,
  options: Omit<SidecarOptions, 'logger' | 'now' | 'learner'> = {},
): Promise<Sidecar> {
  const config = loadConfig(
    e2eEnv({
      PROFLAG_LEARN: 'on',
      PROFLAG_LEARN_MAX_PER_SECOND: '1000000',
      PROFLAG_LEARN_QUEUE_SIZE: '100000',
      ...env,
    }),
  );
  return startSidecar(config, {
    logger: createLogger('error'),
    now,
    defaultMetrics: false,
    learner: { detector: createProfileDetector({ window: 1_000 }), minBaselineEvents: 1_500, warmupEvents: 1_000 },
    ...options,
  });
}

/** A scenario's request as Envoy sends it (user agent, geo header, body length). */
export function emulated(r: RawRequest): EmulatedRequest {
  const headers: Record<string, string> = {};
  if (r.userAgent !== null) headers['user-agent'] = r.userAgent;
  if (r.country !== null) headers['x-country'] = r.country;
  if (r.contentLength !== null) headers['content-length'] = String(r.contentLength);
  return { method: r.method, path: r.path, sourceAddress: r.sourceAddress, headers, hasBody: r.contentLength !== null };
}

/** The requests' outcomes, all sent at once; every exchange must succeed. */
export async function sendAtOnce(envoy: EnvoyEmulator, requests: readonly RawRequest[]): Promise<EmulatedOutcome[]> {
  const out = await Promise.all(requests.map((r) => envoy.request(emulated(r))));
  for (const o of out) expect(o.error).toBeNull();
  return out;
}

/** The requests' outcomes, 32 at a time; every exchange must succeed. */
export async function sendInBatches(envoy: EnvoyEmulator, requests: readonly RawRequest[]): Promise<EmulatedOutcome[]> {
  const out: EmulatedOutcome[] = [];
  for (let i = 0; i < requests.length; i += BATCH) out.push(...(await sendAtOnce(envoy, requests.slice(i, i + BATCH))));
  return out;
}

/**
 * Plays a scenario through the emulator, 32 requests at a time; before each batch the
 * sidecar's clock is set to its first request's time (the emulator sends the batch at once).
 * `play` may stop early and go on later from where it stopped.
 */
export class ScenarioPlayer {
  private readonly events: readonly ScenarioEvent[];
  private sent = 0;

  constructor(
    private readonly envoy: EnvoyEmulator,
    spec: ScenarioSpec,
    private readonly setClock: (timeMs: number) => void,
    /** Sees each event as it joins a batch. */
    private readonly onEvent: (e: ScenarioEvent) => void = () => {},
  ) {
    this.events = [...generateScenario(spec)];
  }

  /** Sends the events not sent yet, until all are sent or `stop()` is true before the next one. */
  async play(stop: () => boolean = () => false): Promise<void> {
    while (this.sent < this.events.length && !stop()) {
      const batch: RawRequest[] = [];
      while (batch.length < BATCH && this.sent < this.events.length && !stop()) {
        const e = this.events[this.sent++]!;
        if (batch.length === 0) this.setClock(e.timeMs);
        this.onEvent(e);
        batch.push(e.request);
      }
      await sendAtOnce(this.envoy, batch);
    }
  }
}

/** The ids of the proposals under `prefix`, once the learner has written at least one. */
export function proposalIds(client: Redis, prefix: string, ms?: number): Promise<string[]> {
  return until(
    'a proposal',
    async () => {
      const ids = await client.zrange(`${prefix}proposals`, 0, -1);
      return ids.length > 0 && ids;
    },
    ms,
  );
}

/** A learning sidecar on a test Redis, the emulator in front of it, and a scenario to play. */
export interface LearningOnRedis {
  readonly redis: TestRedis;
  readonly client: Redis;
  readonly sidecar: Sidecar;
  readonly envoy: EnvoyEmulator;
  /** The scenario's planted requests, in order, once played. */
  readonly planted: readonly RawRequest[];
  /** Its background requests, in order, once played. */
  readonly background: readonly RawRequest[];
  /** Plays the whole scenario, then waits until the learner has taken every request. */
  playAll(): Promise<void>;
}

/**
 * For a describe block (registers its beforeAll and afterAll): a learning sidecar on a test
 * Redis (version 1, no flags) whose clock starts at 2026-11-24 12:00 UTC and follows the
 * scenario, and the emulator with `emulator` options.
 */
export function learningOnRedis(spec: ScenarioSpec, emulator: EmulatorOptions): LearningOnRedis {
  let now = Date.UTC(2026, 10, 24, 12, 0);
  let redis: TestRedis | undefined;
  let client: Redis | undefined;
  let sidecar: Sidecar | undefined;
  let envoy: EnvoyEmulator | undefined;
  const planted: RawRequest[] = [];
  const background: RawRequest[] = [];
  const open = () => {
    if (!redis || !client || !sidecar || !envoy) throw new Error('the learning sidecar starts in beforeAll');
    return { redis, client, sidecar, envoy };
  };
  beforeAll(async () => {
    redis = await testRedis();
    client = new Redis(redis.url);
    await client.set(`${redis.prefix}version`, '1');
    sidecar = await startLearningSidecar({ REDIS_URL: redis.url, PROFLAG_PREFIX: redis.prefix }, () => now);
    envoy = new EnvoyEmulator(`127.0.0.1:${sidecar.grpcPort}`, emulator);
  });
  afterAll(async () => {
    envoy?.close();
    await sidecar?.stop(1_000);
    client?.disconnect();
    await redis?.cleanup();
  });
  return {
    get redis() {
      return open().redis;
    },
    get client() {
      return open().client;
    },
    get sidecar() {
      return open().sidecar;
    },
    get envoy() {
      return open().envoy;
    },
    planted,
    background,
    async playAll() {
      const { envoy, sidecar } = open();
      const player = new ScenarioPlayer(
        envoy,
        spec,
        (t) => (now = t),
        (e) => (e.label ? planted : background).push(e.request),
      );
      await player.play();
      await sidecar.learning!.runner.drained();
    },
  };
}
