// The guarantees the abuse tests check, read from outside the sidecar: what an attack holds
// (live heap after a forced GC, resident memory, libuv handles, file descriptors, ext_proc
// streams started versus ended) is freed afterwards, and the well-behaved probe is served.
import { expect } from 'vitest';
import type { ProbeSummary, RunningProbe } from './probe.js';
import type { SidecarProcess } from './sidecarProcess.js';

export interface Footprint {
  readonly heapBytes: number;
  /** Memory of Buffers and other objects outside the V8 heap (large Buffers live here). */
  readonly externalBytes: number;
  readonly rssBytes: number;
  readonly handles: number;
  readonly fds: number;
  /** request_headers messages received so far (≈ streams that reached proflag). */
  readonly streamsStarted: number;
  readonly streamsEnded: number;
}

export async function footprint(sidecar: SidecarProcess): Promise<Footprint> {
  const m = await sidecar.metricsAfterGc();
  return {
    heapBytes: m.heapUsedBytes,
    externalBytes: m.process('external_memory_bytes'),
    rssBytes: m.rssBytes,
    handles: m.process('active_handles_total'),
    fds: m.openFds,
    streamsStarted: m.requestHeaders,
    streamsEnded: m.streamsEnded,
  };
}

export const MiB = 1024 * 1024;
const RSS_SLACK = 32 * MiB;

export function describeFootprint(f: Footprint): string {
  return (
    `heap ${(f.heapBytes / MiB).toFixed(1)} MiB, external ${(f.externalBytes / MiB).toFixed(1)} MiB, rss ${(f.rssBytes / MiB).toFixed(1)} MiB, ` +
    `handles ${f.handles}, fds ${f.fds}, streams open ${f.streamsStarted - f.streamsEnded}`
  );
}

/**
 * What the attack held is freed: live heap, and memory outside the heap (Buffers), each back
 * to the baseline within 4 MiB or a quarter of what the attack held above it (whichever is
 * more), resident memory within 32 MiB or three
 * quarters of what it held, libuv handles and file descriptors back
 * to the baseline (+2: a timer, the admin socket of the scrape), and no stream that reached
 * proflag still open (but the probe's own).
 */
export function expectFreed(base: Footprint, held: Footprint | null, after: Footprint): void {
  const heldHeap = held ? Math.max(0, held.heapBytes - base.heapBytes) : 0;
  const heapSlack = Math.max(4 * MiB, heldHeap / 4);
  expect(
    after.heapBytes - base.heapBytes,
    `live heap above baseline (base: ${describeFootprint(base)}; after: ${describeFootprint(after)})`,
  ).toBeLessThanOrEqual(heapSlack);
  const heldExternal = held ? Math.max(0, held.externalBytes - base.externalBytes) : 0;
  expect(after.externalBytes - base.externalBytes, 'external (Buffer) memory above baseline').toBeLessThanOrEqual(
    Math.max(4 * MiB, heldExternal / 4),
  );
  // Resident memory does not shrink reliably after a GC (the allocator keeps freed pages), so
  // its bound is looser: it catches the attack's buffers kept alive, not fragmentation.
  expect(after.rssBytes - base.rssBytes, 'resident memory above baseline').toBeLessThanOrEqual(
    Math.max(RSS_SLACK, held ? (held.rssBytes - base.rssBytes) * 0.75 : 0),
  );
  expect(after.handles, 'libuv handles').toBeLessThanOrEqual(base.handles + 2);
  expect(after.fds, 'file descriptors').toBeLessThanOrEqual(base.fds + 2);
  // +1: the probe's own request may be in flight at either moment.
  expect(after.streamsStarted - after.streamsEnded, 'ext_proc streams still open').toBeLessThanOrEqual(
    Math.max(0, base.streamsStarted - base.streamsEnded) + 1,
  );
}

/**
 * The well-behaved traffic got every answer right within message_timeout (200 ms). Requests
 * that timed out while the probe process itself was not running (`starved`, the machine's
 * doing) are not held against the sidecar, but they may not be more than a tenth: beyond
 * that the machine was too busy to measure anything.
 */
export function expectServed(s: ProbeSummary, minRequests = 10): void {
  expect(s.sent, 'probe requests sent').toBeGreaterThanOrEqual(minRequests);
  expect(s.starved, `probe starved by the machine in ${s.starved} of ${s.sent} requests`).toBeLessThanOrEqual(
    Math.max(2, s.sent / 10),
  );
  expect(
    { timeouts: s.timeouts, errors: s.errors, wrong: s.wrong },
    `probe: ${s.sent} sent, p50 ${s.p50Ms.toFixed(1)} ms, p99 ${s.p99Ms.toFixed(1)} ms, max ${s.maxMs.toFixed(1)} ms; ${s.failures.join('; ')}`,
  ).toEqual({ timeouts: 0, errors: 0, wrong: 0 });
}

/**
 * Run an attack while the probe measures, for at least `minMs` (so that the probe's window
 * covers it with several requests), and expect the probe served throughout.
 */
export async function duringProbe<T>(probe: RunningProbe, attack: () => Promise<T>, minMs = 600): Promise<T> {
  await probe.window();
  const t0 = Date.now();
  const result = await attack();
  const left = minMs - (Date.now() - t0);
  if (left > 0) await new Promise((r) => setTimeout(r, left));
  expectServed(await probe.window(), 3);
  return result;
}
