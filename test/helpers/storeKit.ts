// Small tools the store tests share: a logger that records, metrics that record, a compile
// that counts (around the real compileSnapshot), flag documents, and polling with a deadline.
import { pino, type Logger } from 'pino';
import { compileSnapshot } from '../../src/matcher/compile.js';
import type { CompileSnapshot } from '../../src/store/snapshotBuilder.js';
import type { StoreMetrics } from '../../src/store/storeMetrics.js';

export interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

export interface CapturedLogger {
  readonly logger: Logger;
  readonly lines: LogLine[];
  /** Every line serialized, to check what never appears in logs. */
  text(): string;
  messages(minLevel?: number): string[];
}

export const WARN = 40;
export const ERROR = 50;

export function captureLogger(): CapturedLogger {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  return {
    logger,
    lines,
    text: () => lines.map((l) => JSON.stringify(l)).join('\n'),
    messages: (minLevel = 0) => lines.filter((l) => l.level >= minLevel).map((l) => l.msg),
  };
}

export interface CountingCompile {
  readonly compile: CompileSnapshot;
  readonly calls: () => number;
}

export function countingCompile(): CountingCompile {
  let calls = 0;
  return {
    compile: (flags, meta) => {
      calls += 1;
      return compileSnapshot(flags, meta);
    },
    calls: () => calls,
  };
}

export interface RecordedMetrics extends StoreMetrics {
  readonly events: Array<[keyof StoreMetrics, unknown[]]>;
  count(hook: keyof StoreMetrics, firstArg?: unknown): number;
  last(hook: keyof StoreMetrics): unknown[] | undefined;
}

export function recordingMetrics(): RecordedMetrics {
  const events: Array<[keyof StoreMetrics, unknown[]]> = [];
  const hook =
    (name: keyof StoreMetrics) =>
    (...args: unknown[]): void => {
      events.push([name, args]);
    };
  return {
    events,
    reload: hook('reload'),
    compiled: hook('compiled'),
    flagsRejected: hook('flagsRejected'),
    rejectedFlags: hook('rejectedFlags'),
    error: hook('error'),
    version: hook('version'),
    lastSync: hook('lastSync'),
    stale: hook('stale'),
    feedConnected: hook('feedConnected'),
    dataLossSuspected: hook('dataLossSuspected'),
    count: (name, firstArg) =>
      events.filter(([n, args]) => n === name && (firstArg === undefined || args[0] === firstArg)).length,
    last: (name) => events.filter(([n]) => n === name).at(-1)?.[1],
  };
}

/** A valid flag document. */
export function flagJson(name: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    name,
    enabled: true,
    priority: 1,
    threshold: 0.5,
    profile: { method: { in: ['GET'] }, endpoint: { in: [`/${name}`] } },
    ...extra,
  });
}

/** Poll `check` until it returns true; fail with `what` after `timeoutMs`. */
export async function waitFor(what: string, check: () => boolean, timeoutMs = 5000, everyMs = 5): Promise<number> {
  const started = performance.now();
  while (!check()) {
    if (performance.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return performance.now() - started;
}

/** Like waitFor, for an asynchronous check (e.g. reading Redis). */
export async function waitForAsync(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 5000,
  everyMs = 10,
): Promise<number> {
  const started = performance.now();
  while (!(await check())) {
    if (performance.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return performance.now() - started;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}
