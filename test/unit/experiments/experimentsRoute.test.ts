// GET /experiments/NAME on the admin port: JSON (CONTRACT §7) or text, with clear refusals.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXPERIMENTS_PATH, handleExperiments } from '../../../src/admin/experimentsRoute.js';
import { emptyVariantCounts } from '../../../src/experiments/core/counts.js';
import { experimentReport, type ExperimentReport } from '../../../src/experiments/core/report.js';
import { computeResults } from '../../../src/experiments/core/results.js';

const calls: { flag: string; sinceMs?: number }[] = [];
let server: Server;
let base: string;

function sampleReport(): ExperimentReport {
  const c = emptyVariantCounts();
  c.requests = 100;
  c.status5xx = 2;
  c.latency[40] = 100;
  const spec = {
    flag: 'checkout',
    generation: 'abcd0123',
    control: 'control',
    variants: [
      { name: 'control', share: 0.5 },
      { name: 'treatment', share: 0.5 },
    ],
    guardrails: [],
  };
  return experimentReport(
    computeResults(
      spec,
      new Map([
        ['control', c],
        ['treatment', c],
      ]),
      { fromMinute: 0, toMinute: 0 },
    ),
    [],
    [],
  );
}

beforeAll(async () => {
  server = createServer((req, res) => {
    void handleExperiments(req, res, {
      async report(flag, options) {
        calls.push({ flag, ...options });
        if (flag === 'missing') return null;
        if (flag === 'broken') throw new Error('Connection is closed.');
        return sampleReport();
      },
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}${EXPERIMENTS_PATH}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('GET /experiments/NAME', () => {
  it('answers the report as JSON', async () => {
    const res = await fetch(`${base}checkout`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    const body = (await res.json()) as ExperimentReport;
    expect(body).toMatchObject({ flag: 'checkout', control: 'control', srm: { mismatch: false } });
    expect(body.variants.map((v) => [v.name, v.requests, v.errors])).toEqual([
      ['control', 100, 2],
      ['treatment', 100, 2],
    ]);
    expect(body.variants[1]!.vsControl).toHaveProperty('errorRatePValue', 1);
    expect(calls.at(-1)).toEqual({ flag: 'checkout' });
  });

  it('passes ?since= and ?effect=, and answers the table with ?format=text', async () => {
    const res = await fetch(`${base}checkout?since=1h30m&effect=0.25&format=text`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await res.text()).toMatch(/^experiment checkout, control "control", generation abcd0123/);
    expect(calls.at(-1)).toEqual({ flag: 'checkout', sinceMs: 5_400_000, relativeEffect: 0.25 });
  });

  it.each([
    ['Bad%20Name', 400, /not a flag name/],
    ['%E0%A4%A', 400, /not a flag name/],
    ['', 400, /not a flag name/],
    ['checkout?since=forever', 400, /a duration such as/],
    ['checkout?format=xml', 400, /json or text/],
    ['checkout?effect=-1', 400, /relative error-rate increase/],
    ['checkout?effect=lots', 400, /relative error-rate increase/],
    ['missing', 404, /no experiment counts for missing/],
    ['broken', 503, /reading experiment counts failed: Connection is closed/],
  ])('%s → %i', async (path, status, message) => {
    const res = await fetch(`${base}${path}`);
    expect(res.status).toBe(status);
    expect(((await res.json()) as { error: string }).error).toMatch(message);
  });

  it('refuses other methods', async () => {
    expect((await fetch(`${base}checkout`, { method: 'POST' })).status).toBe(405);
  });
});
