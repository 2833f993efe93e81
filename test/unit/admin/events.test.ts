import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { EventHub } from '../../../src/admin/events.js';

interface Received {
  id: string;
  event: string;
  data: string;
}

/** A minimal EventSource: reads frames from a streaming fetch. */
async function connect(port: number, lastEventId?: string) {
  const controller = new AbortController();
  const res = await fetch(`http://127.0.0.1:${port}/api/events`, {
    headers: lastEventId ? { 'last-event-id': lastEventId } : {},
    signal: controller.signal,
  });
  const frames: Received[] = [];
  let buffer = '';
  const reader = res.body?.getReader();
  const pump = (async () => {
    if (!reader) return;
    const decoder = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const f: Record<string, string> = {};
        for (const line of block.split('\n')) {
          const colon = line.indexOf(':');
          if (colon > 0) f[line.slice(0, colon)] = line.slice(colon + 1).trim();
        }
        if (f.event) frames.push({ id: f.id ?? '', event: f.event, data: f.data ?? '' });
      }
    }
  })();
  const waitFor = async (n: number) => {
    const deadline = Date.now() + 3_000;
    while (frames.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    return frames;
  };
  return { res, frames, waitFor, close: () => (controller.abort(), pump) };
}

describe('console event stream', () => {
  let server: Server | null = null;
  let hub: EventHub | null = null;
  afterEach(async () => {
    hub?.close();
    server?.closeAllConnections();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  });

  async function start(options: ConstructorParameters<typeof EventHub>[0] = {}) {
    hub = new EventHub({ hello: () => ({ version: 7 }), ...options });
    const h = hub;
    server = createServer((req, res) => h.handle(req, res));
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
    return (server.address() as AddressInfo).port;
  }

  it('greets, then delivers each event with a rising id', async () => {
    const port = await start();
    const a = await connect(port);
    expect(a.res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    await a.waitFor(1);
    expect(a.frames[0]).toEqual({ id: '0', event: 'hello', data: '{"version":7}' });
    hub!.publish('flags', { version: 8 });
    hub!.publish('proposals', { digest: 'x' });
    const frames = await a.waitFor(3);
    expect(frames.slice(1)).toEqual([
      { id: '1', event: 'flags', data: '{"version":8}' },
      { id: '2', event: 'proposals', data: '{"digest":"x"}' },
    ]);
    expect(hub!.clients).toBe(1);
    await a.close();
  });

  it('replays what a reconnecting client missed, or says hello when it is too old', async () => {
    const port = await start({ replay: 3 });
    for (let i = 0; i < 5; i++) hub!.publish('traffic', { i });
    const recent = await connect(port, '3');
    expect((await recent.waitFor(2)).map((f) => f.id)).toEqual(['4', '5']);
    const old = await connect(port, '1');
    expect((await old.waitFor(1))[0]!.event).toBe('hello');
    await recent.close();
    await old.close();
  });

  it('bounds the clients and notices when they leave', async () => {
    const counts: number[] = [];
    const port = await start({ maxClients: 1 });
    hub!.onClients((n) => counts.push(n));
    const a = await connect(port);
    await a.waitFor(1);
    const b = await fetch(`http://127.0.0.1:${port}/api/events`);
    expect(b.status).toBe(503);
    await a.close();
    const deadline = Date.now() + 2_000;
    while (hub!.clients > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(hub!.clients).toBe(0);
    expect(counts).toEqual([1, 0]);
  });

  it('sends heartbeats', async () => {
    const port = await start({ heartbeatMs: 20 });
    const res = await fetch(`http://127.0.0.1:${port}/api/events`);
    const reader = res.body!.getReader();
    let text = '';
    const deadline = Date.now() + 2_000;
    while (!text.includes(': heartbeat') && Date.now() < deadline) {
      const { value } = await reader.read();
      text += new TextDecoder().decode(value);
    }
    expect(text).toMatch(/: heartbeat \d+/);
    await reader.cancel();
  });
});
