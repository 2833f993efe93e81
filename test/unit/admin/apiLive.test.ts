// The console's polled live events: what the workers serve (a cluster's primary) and the
// proposals, looked at only while a page listens.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { proposalsCheck, runWhileListening, servedCheck } from '../../../src/admin/apiLive.js';
import type { ServedSummary } from '../../../src/admin/apiServed.js';
import { EventHub } from '../../../src/admin/events.js';
import type { ServingAnswer, ServingProcesses } from '../../../src/admin/servingTopics.js';
import type { FlagReads } from '../../../src/changes/index.js';

const summary = (version: number | null, compiledAt: number): ServedSummary => ({
  version,
  flags: 3,
  rejected: 0,
  compiledAt,
});

function workers(answers: () => ServingAnswer[]): ServingProcesses {
  return {
    count: 2,
    askOne: () => Promise.reject(new Error('not used')),
    askAll: async () => answers(),
  };
}

async function until(predicate: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('served snapshots of the workers', () => {
  it("publishes when any worker moved, with the lowest version served; a gone worker's silence is no change", async () => {
    let served: ServingAnswer[] = [
      { worker: '1', ok: true, value: summary(1, 10) },
      { worker: '2', ok: true, value: summary(1, 11) },
    ];
    const published: ServedSummary[] = [];
    const check = servedCheck(
      250,
      workers(() => served),
      (s) => published.push(s),
    );
    await check.run();
    await check.run();
    expect(published).toEqual([summary(1, 11)]); // the first look, then nothing new
    served = [served[0]!, { worker: '2', ok: true, value: summary(2, 20) }];
    await check.run();
    served = [
      { worker: '1', ok: true, value: summary(2, 21) },
      { worker: '2', ok: false, error: 'timeout' },
    ];
    await check.run();
    expect(published.map((s) => s.version)).toEqual([1, 1, 2]);
    served = [];
    await check.run();
    expect(published).toHaveLength(3);
  });
});

describe('proposals', () => {
  it('publishes the first look and every change after it; forgets when the last page left', async () => {
    let stored: unknown[] = [{ id: 'a', createdAt: 1, document: { name: 'a' } }];
    const reads = { proposals: async () => stored } as unknown as FlagReads;
    const digests: string[] = [];
    const check = proposalsCheck(
      500,
      async () => reads,
      (d) => digests.push(d),
    );
    await check.run();
    await check.run();
    stored = [...stored, { id: 'b', createdAt: 2, document: { name: 'b' } }];
    await check.run();
    expect(digests).toHaveLength(2);
    check.reset!();
    await check.run();
    expect(digests).toHaveLength(3);
    expect(digests[2]).toBe(digests[1]);
    const none = proposalsCheck(
      500,
      async () => null,
      (d) => digests.push(d),
    );
    await none.run();
    expect(digests).toHaveLength(3);
  });

  it('runs only while someone listens', async () => {
    const events = new EventHub({ heartbeatMs: 60_000 });
    const server = createServer((req, res) => events.handle(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    let runs = 0;
    let resets = 0;
    const stop = runWhileListening(events, [{ everyMs: 10, run: async () => void runs++, reset: () => void resets++ }]);
    try {
      await new Promise((r) => setTimeout(r, 50));
      expect(runs).toBe(0);
      const controller = new AbortController();
      const port = (server.address() as AddressInfo).port;
      await fetch(`http://127.0.0.1:${port}/api/events`, { signal: controller.signal });
      await until(() => runs >= 2);
      controller.abort();
      await until(() => resets === 1);
      const after = runs;
      await new Promise((r) => setTimeout(r, 50));
      expect(runs).toBe(after);
    } finally {
      stop();
      events.close();
      server.close();
    }
  });
});
