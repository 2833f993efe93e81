import { describe, expect, it } from 'vitest';
import { ReloadScheduler, type SchedulerTimers } from '../../../src/store/reloadScheduler.js';

/** Timers driven by the test: nothing runs until `advance`. */
class ManualTimers implements SchedulerTimers {
  now = 0;
  #next = 1;
  #queue = new Map<number, { at: number; fn: () => void }>();
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#next++;
    this.#queue.set(id, { at: this.now + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.#queue.delete(handle as number);
  }
  get pending(): number[] {
    return [...this.#queue.values()].map((t) => t.at - this.now).sort((a, b) => a - b);
  }
  async advance(ms: number): Promise<void> {
    const until = this.now + ms;
    for (;;) {
      await flush();
      const due = [...this.#queue.entries()].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.#queue.delete(due[0]);
      this.now = due[1].at;
      due[1].fn();
    }
    this.now = until;
    await flush();
  }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

/** A run() whose completion the test controls. */
function controlledRun() {
  const reasons: string[] = [];
  let finish: ((ok: boolean) => void) | null = null;
  return {
    reasons,
    run: (reason: string) => {
      reasons.push(reason);
      return new Promise<boolean>((resolve) => (finish = resolve));
    },
    finish(ok = true) {
      const f = finish;
      finish = null;
      f?.(ok);
    },
    get running() {
      return finish !== null;
    },
  };
}

function make(run: (reason: string) => Promise<boolean>, timers: ManualTimers) {
  return new ReloadScheduler({ debounceMs: 20, run, retryDelayMs: (n) => 100 * n, timers });
}

describe('ReloadScheduler', () => {
  it('debounces a burst into one reload', async () => {
    const t = new ManualTimers();
    const c = controlledRun();
    const s = make(c.run, t);
    for (let i = 0; i < 1000; i++) s.request(`change-${i}`);
    await t.advance(19);
    expect(c.reasons).toEqual([]);
    await t.advance(1);
    expect(c.reasons).toEqual(['change-0']);
    c.finish();
    await t.advance(1000);
    expect(s.runs).toBe(1);
    expect(s.busy).toBe(false);
  });

  it('runs at most one reload, with at most one pending behind it', async () => {
    const t = new ManualTimers();
    const c = controlledRun();
    const s = make(c.run, t);
    s.request('first');
    await t.advance(20);
    expect(c.running).toBe(true);
    for (let i = 0; i < 50; i++) s.request(`during-${i}`);
    await t.advance(500);
    expect(s.runs).toBe(1); // nothing starts while one runs
    c.finish();
    await t.advance(20);
    expect(c.reasons).toEqual(['first', 'during-0']);
    c.finish();
    await t.advance(500);
    expect(s.runs).toBe(2);
  });

  it('retries a failed reload with growing delays, and a new signal cuts the wait short', async () => {
    const t = new ManualTimers();
    const c = controlledRun();
    const s = make(c.run, t);
    s.request('x');
    await t.advance(20);
    c.finish(false);
    await flush();
    expect(t.pending).toEqual([100]);
    await t.advance(100);
    expect(c.reasons).toEqual(['x', 'retry']);
    c.finish(false);
    await flush();
    expect(t.pending).toEqual([200]);
    s.request('reconnected');
    expect(t.pending).toEqual([20]);
    await t.advance(20);
    expect(c.reasons.at(-1)).toBe('reconnected');
    c.finish(true);
    await t.advance(10_000);
    expect(s.runs).toBe(3);
  });

  it('counts a thrown error as a failure', async () => {
    const t = new ManualTimers();
    let calls = 0;
    const s = make(async () => {
      calls += 1;
      throw new Error('boom');
    }, t);
    s.request('x');
    await t.advance(20);
    expect(calls).toBe(1);
    expect(t.pending).toEqual([100]);
  });

  it('stops: no more reloads, and whenIdle waits for the one in flight', async () => {
    const t = new ManualTimers();
    const c = controlledRun();
    const s = make(c.run, t);
    s.request('x');
    await t.advance(20);
    s.request('y');
    s.stop();
    let idle = false;
    void s.whenIdle().then(() => (idle = true));
    await flush();
    expect(idle).toBe(false);
    c.finish();
    await flush();
    expect(idle).toBe(true);
    s.request('z');
    await t.advance(1000);
    expect(c.reasons).toEqual(['x']);
  });
});
