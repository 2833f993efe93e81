// Issue 10's bad input, end to end against a real sidecar on Redis: a 10 KB stickiness value and
// one with control characters, response-headers messages nobody asked for (a stream that starts
// with one, one after the phase was answered, one on a stream outside experiments), a :status
// that is not a number (or missing), and an experiment whose control names no variant. Each is
// bounded and counted, never a crash and never a wrong count: the experiment's counts at the end
// are exactly what the well-formed exchanges imply.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sidecar } from '../../src/sidecar.js';
import { EnvoyEmulator, officialExtProcClient } from '../helpers/envoyEmulator.js';
import { runFfr } from '../helpers/ffr.js';
import { metricSum } from '../helpers/proflagProcess.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { until } from '../helpers/until.js';
import {
  adminGet,
  backends,
  classOf,
  countedOf,
  experimentReport,
  flagsSeen,
  putFlag,
  redisVersion,
  startExperimentSidecar,
  Tally,
} from './experimentsKit.js';

const FLAG = {
  name: 'bad-exp',
  enabled: true,
  profile: { endpoint: { in: ['/bad', '/bad/**'] } },
  rollout: { percent: 100, stickiness: 'header:x-user-id' },
  variants: [
    { name: 'control', weight: 50 },
    { name: 'treatment', weight: 50, actions: { route: { cluster: 'backend_treatment' } } },
  ],
  experiment: { control: 'control' },
};

type Reply = { response?: string; mode_override?: { response_header_mode?: string } } & Record<string, unknown>;
const raw = (key: string, value: string | Buffer) => ({
  key,
  raw_value: Buffer.isBuffer(value) ? value : Buffer.from(value, 'latin1'),
});
const requestHeaders = (path: string, user: string | Buffer) => ({
  request_headers: {
    headers: {
      headers: [raw(':method', 'GET'), raw(':path', path), raw(':authority', 'shop'), raw('x-user-id', user)],
    },
    end_of_stream: true,
  },
});
const responseHeaders = (status: string | null) => ({
  response_headers: {
    headers: { headers: status === null ? [raw('server', 'x')] : [raw(':status', status)] },
    end_of_stream: true,
  },
});

/** One ext_proc stream with messages sent one at a time, each awaiting its reply. */
async function exchange(port: number, messages: Record<string, unknown>[]): Promise<Reply[]> {
  const Ctor = officialExtProcClient();
  const client = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    Process(): grpc.ClientDuplexStream<unknown, Reply>;
  };
  const call = client.Process();
  const queue: Reply[] = [];
  let waiter: (() => void) | null = null;
  call.on('data', (r: Reply) => {
    queue.push(r);
    waiter?.();
  });
  call.on('error', () => {});
  const replies: Reply[] = [];
  try {
    for (const m of messages) {
      call.write(m);
      if (queue.length === 0) {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('no reply within 2 s')), 2000);
          waiter = () => {
            clearTimeout(timer);
            waiter = null;
            resolve();
          };
        });
      }
      replies.push(queue.shift()!);
    }
  } finally {
    // Envoy's close: END_STREAM, then RST_STREAM.
    call.end();
    call.cancel();
    client.close();
  }
  return replies;
}

describe('experiments: bad input', () => {
  let redis: TestRedis;
  let client: Redis;
  let s: Sidecar;
  let envoy: EnvoyEmulator;
  /** What the well-formed exchanges imply for bad-exp, by variant. */
  const expected = new Tally();
  let invalidStatuses = 0;
  const metric = async (name: string, labels: Record<string, string>) =>
    metricSum((await adminGet<string>(s.adminPort, '/metrics')).body, name, labels);

  beforeAll(async () => {
    redis = await testRedis();
    client = new Redis(redis.url);
    s = await startExperimentSidecar(redis, { guardrailIntervalMs: 3_600_000 });
    await putFlag(redis, FLAG);
    const v = await redisVersion(client, redis.prefix);
    await until('load', async () => s.holder.current.version === v, 3000);
    envoy = new EnvoyEmulator(`127.0.0.1:${s.grpcPort}`, {
      allowModeOverride: true,
      messageTimeoutMs: 2000,
      upstream: backends({ backend_treatment: { error5xx: 0.2 }, backend_stable: { error4xx: 0.2 } }, 5),
    });
  });

  afterAll(async () => {
    envoy?.close();
    await s?.stop(1000);
    client?.disconnect();
    await redis?.cleanup();
  });

  async function send(user: string): Promise<string> {
    const out = await envoy.request({ path: '/bad/x', headers: { 'x-user-id': user } });
    expect(out.error).toBeNull();
    const variant = flagsSeen(out).get('bad-exp')!;
    expect(['control', 'treatment']).toContain(variant);
    expect(out.responsePhaseSent).toBe(true);
    expect(expected).toBeDefined();
    expected.add(variant, classOf(out));
    return variant;
  }

  it('a 10 KB stickiness value: assigned, sticky, counted once', async () => {
    const variants = new Map<string, string>();
    for (let i = 0; i < 30; i++) {
      const id = `${i}-${'x'.repeat(10 * 1024)}`;
      variants.set(id, await send(id));
    }
    expect(new Set(variants.values()).size).toBe(2);
    // The same unit gets the same answer.
    for (const [id, variant] of [...variants].slice(0, 5)) expect(await send(id)).toBe(variant);
  });

  it('a stickiness value with control characters: assigned and counted, nothing breaks', async () => {
    for (let i = 0; i < 30; i++) await send(`u\u0001\u0002\u007f\t${i}\u001b[0m`);
    // Non-UTF-8 bytes straight on the wire, through the raw client.
    const replies = await exchange(s.grpcPort, [
      requestHeaders('/bad/raw', Buffer.from([0xff, 0xfe, 0x00, 0x0a, 0x0d, 0x41])),
      responseHeaders('200'),
    ]);
    expect(replies.map((r) => r.response)).toEqual(['request_headers', 'response_headers']);
    expect(replies[0]!.mode_override?.response_header_mode).toBe('SEND');
    // Which variant the raw unit got is in its flags header; count it where it belongs.
    const set = (
      replies[0]!.request_headers as {
        response: { header_mutation: { set_headers: { header: { key: string; raw_value: Buffer } }[] } };
      }
    ).response.header_mutation.set_headers;
    const flags = set.find((h) => h.header.key === 'x-proflag-flags')!.header.raw_value.toString('latin1');
    expected.add(flags.replace('bad-exp=', ''), 'success');
  });

  it('response headers nobody asked for are answered unchanged, counted, and never reach the experiment', async () => {
    const before = await metric('proflag_extproc_response_phase_total', { outcome: 'unrequested' });
    // A stream that starts with response headers.
    let replies = await exchange(s.grpcPort, [responseHeaders('500')]);
    expect(replies.map((r) => r.response)).toEqual(['response_headers']);
    expect(replies[0]!.response_headers).toEqual({});
    // Response headers again after the phase was answered (the stream's phase is over).
    replies = await exchange(s.grpcPort, [
      requestHeaders('/bad/y', 'again-1'),
      responseHeaders('200'),
      responseHeaders('503'),
    ]);
    expect(replies.map((r) => r.response)).toEqual(['request_headers', 'response_headers', 'response_headers']);
    const set = (
      replies[0]!.request_headers as {
        response: { header_mutation: { set_headers: { header: { key: string; raw_value: Buffer } }[] } };
      }
    ).response.header_mutation.set_headers;
    expected.add(
      set
        .find((h) => h.header.key === 'x-proflag-flags')!
        .header.raw_value.toString('latin1')
        .replace('bad-exp=', ''),
      'success',
    );
    // A stream outside every experiment, which asked for nothing.
    replies = await exchange(s.grpcPort, [requestHeaders('/elsewhere', 'u'), responseHeaders('500')]);
    expect(replies[0]!.mode_override).toBeUndefined();
    expect(replies.map((r) => r.response)).toEqual(['request_headers', 'response_headers']);
    const after = await until(
      'the unrequested counter',
      async () => {
        const n = await metric('proflag_extproc_response_phase_total', { outcome: 'unrequested' });
        return n >= before + 3 ? n : null;
      },
      15_000,
    );
    expect(after).toBe(before + 3);
  });

  it('a :status that is not a number, or none, is an unusable status: an error, never a success', async () => {
    for (const status of ['abc', '2OO', '', null, '99999', '200.5']) {
      const replies = await exchange(s.grpcPort, [
        requestHeaders('/bad/z', `status-${String(status)}`),
        responseHeaders(status),
      ]);
      expect(replies.map((r) => r.response)).toEqual(['request_headers', 'response_headers']);
      invalidStatuses++;
    }
  });

  it('an experiment whose control names no variant is refused with its reason; the others keep serving', async () => {
    const broken = {
      ...FLAG,
      name: 'bad-control',
      profile: { endpoint: { in: ['/other'] } },
      experiment: { control: 'baseline' },
    };
    const dir = await mkdtemp(join(tmpdir(), 'proflag-exp-'));
    try {
      const file = join(dir, 'bad-control.json');
      await writeFile(file, JSON.stringify(broken));
      const run = await runFfr(redis, ['put', file]);
      expect(run.code).not.toBe(0);
      expect(run.stderr).toMatch(/experiment\.control.*names no variant of this flag \(variants: control, treatment\)/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    // Written around the scripts: the sidecar refuses it at load, with the same reason.
    await client.set(`${redis.prefix}flag:bad-control`, JSON.stringify(broken));
    await client.incr(`${redis.prefix}version`);
    await client.publish(`${redis.prefix}changes`, 'bad-control');
    const rejected = await until(
      'the rejection',
      async () => s.holder.current.rejected.find((r) => r.key === 'bad-control'),
      15_000,
    );
    expect(rejected.reason).toMatch(/names no variant/);
    await send('after-the-broken-flag');
  });

  it('the experiment counted exactly the well-formed exchanges', async () => {
    const total = expected.sum(() => true).requests + invalidStatuses;
    const r = await until(
      'the counts',
      async () => {
        const x = await experimentReport(s.adminPort, 'bad-exp');
        return x && x.variants.reduce((n, v) => n + v.requests, 0) === total ? x : null;
      },
      15_000,
    );
    let invalid = 0;
    for (const v of r.variants) {
      invalid += v.invalidStatus;
      const c = countedOf(r, v.name);
      const e = expected.sum((k) => k === v.name);
      // Requests include the unusable statuses; the classes match the well-formed exchanges.
      expect({ ...c, requests: c.requests - v.invalidStatus }).toEqual(e);
      expect(v.errors).toBe(v.status5xx + v.invalidStatus + v.noResponse);
    }
    expect(invalid).toBe(invalidStatuses);
    expect(r.variants.every((v) => v.noResponse === 0)).toBe(true);
    // Still serving, and alive.
    expect(s.holder.loaded).toBe(true);
    expect((await adminGet(s.adminPort, '/healthz')).status).toBe(200);
  });
});
