// The flusher: at most once per `flushMs`, drains the recorder's tables and adds the counts to
// per-minute hashes in Redis, never on the request path.
//
// One flush is one EVALSHA of FLUSH_SCRIPT (split into several calls only past
// `maxArgsPerCall`), which HINCRBYs every non-zero counter into `exp:<flag>:m:<minute>`, sets
// the TTL, and records the generation's spec and first/last minute. Each call carries this
// writer's next sequence number, and the script applies it only if it is above the last one
// applied (`expw:<writer>`): a call that failed ambiguously (applied, but the reply was lost)
// can be sent again without counting twice. A failed call is kept and sent again first at the
// next flush; until it succeeds, new counts simply keep adding up in the recorder's fixed-size
// arrays, so a Redis outage costs bounded memory and loses nothing. Counts land in the minute
// of the (re)send, by this replica's clock, so a minute older than a clock skew is final.
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Cluster, Redis } from 'ioredis';
import { COUNTER_FIELDS, counterField, LATENCY_FIELD_PREFIX, type VariantCounts } from './core/counts.js';
import { HISTOGRAM_BUCKETS } from './core/histogram.js';
import type { ExperimentSpec } from './core/spec.js';
import { experimentKeys, minuteOf, type ExperimentKeys } from './keys.js';
import type { ExperimentTable } from './recorder.js';
import {
  noopExperimentMetrics,
  silentLogger,
  type ExperimentLogger,
  type ExperimentMetrics,
  type OutcomeClass,
} from './telemetry.js';

export const FLUSH_SCRIPT = `
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local seq = tonumber(ARGV[1])
if seq <= last then return 0 end
local ttl = tonumber(ARGV[2])
local now = tonumber(ARGV[4])
local resetAfter = tonumber(ARGV[5])
local nowMs = ARGV[6]
local i = 7
while i <= #ARGV do
  local op = ARGV[i]
  local key = KEYS[tonumber(ARGV[i + 1])]
  if op == 'b' then
    local n = tonumber(ARGV[i + 2])
    i = i + 3
    for _ = 1, n do
      redis.call('HINCRBY', key, ARGV[i], ARGV[i + 1])
      i = i + 2
    end
    redis.call('EXPIRE', key, ttl)
  else
    local gen = ARGV[i + 2]
    redis.call('HSET', key, gen, ARGV[i + 3], gen .. ':last', now)
    local since = tonumber(redis.call('HGET', key, gen .. ':since'))
    if since == nil or (ARGV[i + 4] == '1' and since < now - resetAfter) then
      redis.call('HSET', key, gen .. ':since', now, gen .. ':sinceMs', nowMs)
    end
    redis.call('EXPIRE', key, ttl)
    i = i + 5
  end
end
redis.call('SET', KEYS[1], seq, 'EX', ARGV[3])
return 1
`;

const FLUSH_SHA = createHash('sha1').update(FLUSH_SCRIPT).digest('hex');
/** How long a writer's sequence number is remembered, s. */
const WRITER_TTL_SECONDS = 86_400;
/**
 * A generation whose weights came back (A → B → A) restarts its `since` unless another replica
 * already restarted it within this many minutes.
 */
const SINCE_RESET_MINUTES = 5;

export type RedisClient = Redis | Cluster;

/** The spec as stored in `exp:<flag>:gens` (the generation is the field name). */
export function specJson(spec: ExperimentSpec): string {
  return JSON.stringify({
    flag: spec.flag,
    control: spec.control,
    variants: spec.variants.map((v) => ({ name: v.name, share: v.share })),
    guardrails: spec.guardrails,
  });
}

interface FlagDelta {
  /** field → increment */
  readonly fields: Map<string, number>;
  /** generation → { json, reset } */
  readonly generations: Map<string, { json: string; reset: boolean }>;
}

/** One script call: the sequence number is fixed once, the keys are computed at send time. */
interface Chunk {
  readonly seq: number;
  readonly flags: Map<string, { fields: [string, number][]; generations: [string, string, boolean][] }>;
  readonly args: number;
}

export interface FlusherOptions {
  readonly redis: RedisClient;
  readonly prefix: string;
  readonly recorder: { liveTables(): readonly ExperimentTable[] };
  /** Minimum time between flushes, ms (PROFLAG_EXPERIMENT_FLUSH_MS). */
  readonly flushMs: number;
  /** TTL of the minute buckets and generation records, days (PROFLAG_EXPERIMENT_TTL_DAYS). */
  readonly ttlDays: number;
  /** Unique per process incarnation; default `<hostname>-<pid>-<random>`. */
  readonly writerId?: string;
  readonly logger?: ExperimentLogger;
  readonly metrics?: ExperimentMetrics;
  readonly now?: () => number;
  /** Script arguments per call before a flush is split. Default 20,000. */
  readonly maxArgsPerCall?: number;
}

export interface FlushReport {
  /** Script calls applied (including ones Redis had applied before: duplicates). */
  readonly applied: number;
  /** Calls still waiting for a retry. */
  readonly pending: number;
  readonly error: string | null;
}

export class ExperimentFlusher {
  readonly writerId: string;
  readonly #redis: RedisClient;
  readonly #keys: ExperimentKeys;
  readonly #recorder: FlusherOptions['recorder'];
  readonly #flushMs: number;
  readonly #ttlSeconds: number;
  readonly #log: ExperimentLogger;
  readonly #metrics: ExperimentMetrics;
  readonly #now: () => number;
  readonly #maxArgs: number;
  #seq = 0;
  #pending: Chunk[] = [];
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<FlushReport> | null = null;
  #failing = false;
  /** Tables whose changed generations were already sent with a `since` reset. */
  readonly #resetSent = new WeakMap<ExperimentTable, Set<string>>();

  constructor(options: FlusherOptions) {
    if (!(options.flushMs > 0)) throw new RangeError(`flushMs must be > 0, got ${options.flushMs}`);
    if (!(options.ttlDays > 0)) throw new RangeError(`ttlDays must be > 0, got ${options.ttlDays}`);
    this.#redis = options.redis;
    this.#keys = experimentKeys(options.prefix);
    this.#recorder = options.recorder;
    this.#flushMs = options.flushMs;
    this.#ttlSeconds = Math.round(options.ttlDays * 86_400);
    this.writerId = options.writerId ?? `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
    this.#log = options.logger ?? silentLogger;
    this.#metrics = options.metrics ?? noopExperimentMetrics;
    this.#now = options.now ?? Date.now;
    this.#maxArgs = options.maxArgsPerCall ?? 20_000;
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.flush(), this.#flushMs);
    this.#timer.unref();
  }

  /** Stop the timer and make a last flush (bounded by `timeoutMs`). */
  async stop(timeoutMs = 2000): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.flush(),
      new Promise((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  /** Calls waiting for a retry. */
  get pendingCalls(): number {
    return this.#pending.length;
  }

  /** One flush now (a flush already running is joined, not doubled). */
  flush(): Promise<FlushReport> {
    if (this.#running) return this.#running;
    this.#running = this.#flushOnce().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  async #flushOnce(): Promise<FlushReport> {
    let applied = 0;
    // Calls that failed before go first, in order (sequence numbers must reach Redis ascending);
    // once they are through, what the recorder gathered meanwhile follows in the same flush.
    let drained = false;
    while (!drained) {
      if (this.#pending.length === 0) {
        this.#pending = this.#drain();
        drained = true;
      }
      while (this.#pending.length > 0) {
        const chunk = this.#pending[0]!;
        try {
          const result = await this.#send(chunk);
          this.#metrics.flush(result === 1 ? 'ok' : 'duplicate');
          this.#pending.shift();
          applied++;
        } catch (err) {
          return this.#failed(err as Error, applied);
        }
      }
    }
    if (this.#failing) this.#log.info({}, 'experiment counts flushed again');
    this.#failing = false;
    this.#metrics.pending(0);
    return { applied, pending: 0, error: null };
  }

  #failed(err: Error, applied: number): FlushReport {
    this.#metrics.flush('failed');
    this.#metrics.error('flush');
    this.#metrics.pending(this.#pending.length);
    if (!this.#failing) {
      this.#log.warn(
        { code: 'PROFLAG_ERR_EXPERIMENT', err: err.message, pending: this.#pending.length },
        'flushing experiment counts failed; keeping them for the next flush',
      );
    }
    this.#failing = true;
    return { applied, pending: this.#pending.length, error: err.message };
  }

  /** Everything the recorder holds, as calls of at most maxArgs arguments. */
  #drain(): Chunk[] {
    const byFlag = new Map<string, FlagDelta>();
    const classes: Record<OutcomeClass, number> = {
      success: 0,
      '4xx': 0,
      '5xx': 0,
      no_response: 0,
      invalid_status: 0,
    };
    for (const table of this.#recorder.liveTables()) {
      let sent = this.#resetSent.get(table);
      table.drain((spec, variant, counts) => {
        let delta = byFlag.get(spec.flag);
        if (!delta) byFlag.set(spec.flag, (delta = { fields: new Map(), generations: new Map() }));
        addFields(delta.fields, spec.generation, variant, counts);
        if (!delta.generations.has(spec.generation)) {
          // A generation this table took over from a different one restarts its `since`, once.
          let reset = false;
          if (table.changedGenerations.has(spec.flag)) {
            if (!sent) this.#resetSent.set(table, (sent = new Set()));
            reset = !sent.has(spec.flag);
            sent.add(spec.flag);
          }
          delta.generations.set(spec.generation, { json: specJson(spec), reset });
        }
        classes['5xx'] += counts.status5xx;
        classes['4xx'] += counts.status4xx;
        classes.no_response += counts.noResponse;
        classes.invalid_status += counts.invalidStatus;
        classes.success +=
          counts.requests - counts.status5xx - counts.status4xx - counts.noResponse - counts.invalidStatus;
      });
    }
    for (const [klass, n] of Object.entries(classes)) this.#metrics.outcomes(klass as OutcomeClass, n);
    return this.#chunks(byFlag);
  }

  #chunks(byFlag: Map<string, FlagDelta>): Chunk[] {
    const chunks: Chunk[] = [];
    let flags: Chunk['flags'] = new Map();
    let args = 0;
    const close = () => {
      if (flags.size === 0) return;
      chunks.push({ seq: ++this.#seq, flags, args });
      flags = new Map();
      args = 0;
    };
    for (const [flag, delta] of byFlag) {
      const generations = [...delta.generations].map(([g, m]): [string, string, boolean] => [g, m.json, m.reset]);
      let entry = { fields: [] as [string, number][], generations };
      flags.set(flag, entry);
      args += 5 * generations.length + 3;
      for (const [field, n] of delta.fields) {
        if (args + 2 > this.#maxArgs && entry.fields.length > 0) {
          close();
          entry = { fields: [], generations: [] };
          flags.set(flag, entry);
          args = 3;
        }
        entry.fields.push([field, n]);
        args += 2;
      }
    }
    close();
    return chunks;
  }

  async #send(chunk: Chunk): Promise<number> {
    const nowMs = this.#now();
    const minute = minuteOf(nowMs);
    const keys: string[] = [this.#keys.writer(this.writerId)];
    const args: (string | number)[] = [
      chunk.seq,
      this.#ttlSeconds,
      WRITER_TTL_SECONDS,
      minute,
      SINCE_RESET_MINUTES,
      Math.floor(nowMs),
    ];
    for (const [flag, entry] of chunk.flags) {
      if (entry.fields.length > 0) {
        keys.push(this.#keys.bucket(flag, minute));
        args.push('b', keys.length, entry.fields.length);
        for (const [field, n] of entry.fields) args.push(field, n);
      }
      if (entry.generations.length > 0) {
        keys.push(this.#keys.generations(flag));
        const at = keys.length;
        for (const [gen, json, reset] of entry.generations) args.push('g', at, gen, json, reset ? '1' : '0');
      }
    }
    return evalScript(this.#redis, keys, args);
  }
}

function addFields(fields: Map<string, number>, generation: string, variant: string, c: VariantCounts): void {
  const add = (suffix: string, n: number) => {
    if (n === 0) return;
    const field = counterField(generation, variant, suffix);
    fields.set(field, (fields.get(field) ?? 0) + n);
  };
  add(COUNTER_FIELDS[0]!, c.requests);
  add(COUNTER_FIELDS[1]!, c.status5xx);
  add(COUNTER_FIELDS[2]!, c.status4xx);
  add(COUNTER_FIELDS[3]!, c.noResponse);
  add(COUNTER_FIELDS[4]!, c.invalidStatus);
  for (let i = 0; i < HISTOGRAM_BUCKETS; i++) add(`${LATENCY_FIELD_PREFIX}${i}`, c.latency[i]!);
}

/** EVALSHA, loading the script with EVAL when the server does not know it yet. */
async function evalScript(redis: RedisClient, keys: string[], args: (string | number)[]): Promise<number> {
  try {
    return (await redis.evalsha(FLUSH_SHA, keys.length, ...keys, ...args)) as number;
  } catch (err) {
    if (!/NOSCRIPT/.test((err as Error).message)) throw err;
    return (await redis.eval(FLUSH_SCRIPT, keys.length, ...keys, ...args)) as number;
  }
}
