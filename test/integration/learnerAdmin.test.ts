// The fleet learner as a process (`npm run learner`, src/learnerMain.ts) serves GET /learner,
// /metrics and /healthz on PROFLAG_LEARNER_ADMIN_ADDR: samples published to the stream show up
// as learned, a malformed entry as dropped (decode), and no raw user agent reaches the body.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateScenario } from '../../bench/scenarios/generator.js';
import type { LearnerReport } from '../../src/learner/learnerReport.js';
import { encodeSample, SAMPLE_FIELD } from '../../src/learner/sampleCodec.js';
import { redisKeys } from '../../src/store/redisKeys.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

async function waitFor<T>(what: string, f: () => Promise<T | null> | T | null, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== null) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('npm run learner: its admin port', () => {
  let r: TestRedis;
  let redis: Redis;

  beforeAll(async () => {
    r = await testRedis();
    redis = new Redis(r.url);
  });
  afterAll(async () => {
    redis?.disconnect();
    await r?.cleanup();
  });

  it('serves /learner, /metrics and /healthz, and stops cleanly', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/learnerMain.ts'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        REDIS_URL: r.url,
        PROFLAG_PREFIX: r.prefix,
        PROFLAG_LEARNER_ADMIN_ADDR: '127.0.0.1:0',
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += String(d)));
    child.stderr.on('data', (d) => (output += String(d)));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const started = await waitFor('the fleet learner', () => {
        const line = output.split('\n').find((l) => l.includes('fleet learner started'));
        return line ? (JSON.parse(line) as { admin: string }) : null;
      });
      const base = `http://${started.admin}`;
      expect((await fetch(`${base}/healthz`)).status).toBe(200);

      const userAgents = new Set<string>();
      const stream = redisKeys(r.prefix).samples;
      const pipeline = redis.pipeline();
      for (const e of generateScenario({ name: 'fleet-admin', seed: 9, requests: 300, planted: [] })) {
        if (e.request.userAgent) userAgents.add(e.request.userAgent);
        pipeline.xadd(stream, '*', SAMPLE_FIELD, encodeSample(e.profile, e.timeMs));
      }
      pipeline.xadd(stream, '*', SAMPLE_FIELD, '[1, "not a sample"');
      await pipeline.exec();

      const report = await waitFor('the samples to be learned', async () => {
        const res = await fetch(`${base}/learner`);
        const body = (await res.json()) as LearnerReport;
        return body.samples.accepted === 301 ? body : null;
      });
      expect(report.mode).toBe('fleet');
      expect(report.samples).toMatchObject({ learned: 300, dropped: { decode: 1 } });
      expect(report.learner!.observed).toBe(300);
      expect(report.learner!.warmUp.summary).toBe(
        'detector warming up: 300 of 10,000 events (scores are 0 until then, so nothing is clustered)',
      );
      const text = await (await fetch(`${base}/learner?format=text`)).text();
      expect(text).toMatch(/^proflag learner \(fleet\)/);
      for (const ua of userAgents) expect(text.includes(ua) || JSON.stringify(report).includes(ua)).toBe(false);
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toContain('proflag_learner_proposals_written_total');
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});
