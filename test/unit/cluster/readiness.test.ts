import { describe, expect, it } from 'vitest';
import type { ReadinessState } from '../../../src/admin/servingTopics.js';
import { combineReadiness, type SlotReadiness } from '../../../src/cluster/readiness.js';

const state = (o: Partial<ReadinessState> = {}): ReadinessState => ({
  ready: true,
  stale: false,
  version: 7,
  syncAgeMs: 100,
  source: 'redis',
  detail: { flags: 3 },
  ...o,
});
const slot = (n: number, answer: ReadinessState | null, o: Partial<SlotReadiness> = {}): SlotReadiness => ({
  slot: n,
  pid: 1000 + n,
  state: 'running',
  answer,
  error: null,
  ...o,
});

describe('combineReadiness', () => {
  it('is ready when every worker is, with the laggard version and the oldest sync', () => {
    const r = combineReadiness([slot(1, state({ version: 8, syncAgeMs: 50 })), slot(2, state())], 0);
    expect(r).toMatchObject({ ready: true, stale: false, version: 7, syncAgeMs: 100, source: 'redis' });
    expect(r.detail).toEqual({
      workers: [
        { worker: 1, pid: 1001, state: 'running', ready: true, stale: false, version: 8, syncAgeMs: 50, flags: 3 },
        { worker: 2, pid: 1002, state: 'running', ready: true, stale: false, version: 7, syncAgeMs: 100, flags: 3 },
      ],
      restarts: 0,
    });
  });

  it.each([
    ['one worker not loaded yet', [slot(1, state()), slot(2, state({ ready: false }))]],
    [
      'one worker restarting',
      [slot(1, state()), slot(2, null, { state: 'restarting', pid: null, error: 'exited; restarting' })],
    ],
    ['one worker not answering', [slot(1, state()), slot(2, null, { error: 'no answer to readiness within 3000 ms' })]],
    ['no workers at all', []],
  ] as const)('is not ready with %s', (_why, slots) => {
    const r = combineReadiness(slots, 2);
    expect(r.ready).toBe(false);
    expect((r.detail as { restarts: number }).restarts).toBe(2);
  });

  it('shows why a slot has no answer, and the version only when every worker has one', () => {
    const r = combineReadiness(
      [slot(1, state()), slot(2, null, { state: 'restarting', pid: null, error: 'exited' })],
      1,
    );
    expect(r.version).toBeNull();
    expect((r.detail as { workers: unknown[] }).workers[1]).toEqual({
      worker: 2,
      pid: null,
      state: 'restarting',
      ready: false,
      error: 'exited',
    });
  });

  it('is stale when any worker is, and lists every source when they differ', () => {
    const r = combineReadiness([slot(1, state({ stale: true })), slot(2, state({ source: 'snapshot-file' }))], 0);
    expect(r.stale).toBe(true);
    expect(r.source).toBe('redis | snapshot-file');
  });
});
