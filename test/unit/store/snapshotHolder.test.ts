import { describe, expect, it } from 'vitest';
import type { Snapshot } from '../../../src/matcher/snapshot.js';
import { emptySnapshot, SnapshotHolder } from '../../../src/store/snapshotHolder.js';

function snap(version: number | null, rejected = 0): Snapshot {
  return {
    ...emptySnapshot('redis', 0),
    version,
    flagCount: 2,
    rejected: Array.from({ length: rejected }, (_, i) => ({ key: `k${i}`, reason: 'bad' })),
  };
}

describe('emptySnapshot', () => {
  it('has no flags, no version, and is frozen', () => {
    const s = emptySnapshot('file:/x', 42);
    expect(s).toMatchObject({ version: null, source: 'file:/x', compiledAt: 42, flagCount: 0, uaIndex: null });
    expect(s.flags).toEqual([]);
    expect(Object.isFrozen(s)).toBe(true);
  });
});

describe('SnapshotHolder', () => {
  it('serves the swapped snapshot and tells listeners (next, previous)', () => {
    const holder = new SnapshotHolder();
    expect(holder.current.source).toBe('empty');
    const seen: [number | null, number | null][] = [];
    const off = holder.onSwap((next, prev) => seen.push([next.version, prev.version]));
    const a = snap(1);
    holder.swap(a);
    expect(holder.current).toBe(a);
    holder.swap(snap(2));
    off();
    holder.swap(snap(3));
    expect(seen).toEqual([
      [1, null],
      [2, 1],
    ]);
  });

  it('swaps even when a listener throws, and still calls the others', () => {
    const holder = new SnapshotHolder();
    let called = 0;
    holder.onSwap(() => {
      throw new Error('listener bug');
    });
    holder.onSwap(() => void (called += 1));
    const next = snap(5);
    expect(() => holder.swap(next)).not.toThrow();
    expect(holder.current).toBe(next);
    expect(called).toBe(1);
  });

  it('is never stale without a bound', () => {
    let now = 0;
    const holder = new SnapshotHolder(undefined, { now: () => now });
    now = 10 ** 12;
    expect(holder.stale).toBe(false);
  });

  it('goes stale when no sync succeeds, or the feed stays down, past the bound', () => {
    let now = 1000;
    const holder = new SnapshotHolder(undefined, { staleAfterMs: 100, now: () => now });
    expect(holder.stale).toBe(false);
    now = 1101; // never synced, never connected
    expect(holder.stale).toBe(true);

    holder.recordSync(now);
    holder.setFeedConnected(true, now);
    expect(holder.stale).toBe(false);
    now += 100;
    expect(holder.stale).toBe(false);
    now += 1; // connected, but no sync for > 100 ms
    expect(holder.stale).toBe(true);

    holder.recordSync(now);
    holder.setFeedConnected(false, now);
    now += 50;
    holder.setFeedConnected(false, now); // a second "down" does not restart the clock
    holder.recordSync(now);
    expect(holder.stale).toBe(false);
    now += 51;
    expect(holder.stale).toBe(true); // feed down for 101 ms, though synced 51 ms ago
    holder.setFeedConnected(true, now);
    expect(holder.stale).toBe(false);
  });

  it('reports the sync state in one object', () => {
    let now = 5000;
    const holder = new SnapshotHolder(undefined, { staleAfterMs: 1000, now: () => now });
    expect(holder.sync).toMatchObject({ loaded: false, lastSyncAt: null, ageMs: null, feedConnected: false });
    holder.swap(snap(9, 2));
    holder.recordSync(4000);
    holder.setFeedConnected(true);
    holder.recordError('boom', 4500);
    expect(holder.sync).toEqual({
      source: 'redis',
      version: 9,
      loaded: true,
      lastSyncAt: 4000,
      ageMs: 1000,
      feedConnected: true,
      stale: false,
      dataLossSuspected: false,
      lastError: 'boom',
      lastErrorAt: 4500,
      rejectedCount: 2,
      flagCount: 2,
    });
    holder.recordSync(now);
    expect(holder.sync.lastError).toBeNull();
    holder.setDataLossSuspected(true);
    expect(holder.sync.dataLossSuspected).toBe(true);
    expect(() => holder.configureStaleness(0)).toThrow(RangeError);
    now += 1;
  });

  it('can be ready without a sync (a held snapshot)', () => {
    const holder = new SnapshotHolder();
    holder.recordLoaded();
    expect(holder.loaded).toBe(true);
    expect(holder.sync.lastSyncAt).toBeNull();
  });
});
