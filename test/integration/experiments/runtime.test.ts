// The experiments runtime with real timers against a real Redis: the flusher and the guardrail
// runner run on their own; `ffr results` (resultsCommand) shows what happened.
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { ExperimentFlagLike } from '../../../src/experiments/core/spec.js';
import { resultsCommand } from '../../../src/experiments/resultsCommand.js';
import { startExperiments } from '../../../src/experiments/runtime.js';
import { redisKeys } from '../../../src/store/redisKeys.js';
import { fileRedis } from '../../helpers/fileRedis.js';
import { waitFor } from '../../helpers/proflagProcess.js';
import { casChangePath } from './casChangePath.js';

const r = fileRedis({ connect: (url) => new Redis(url, { maxRetriesPerRequest: 1 }) });

const FLAG = {
  name: 'search',
  enabled: true,
  variants: [
    { name: 'control', weight: 50 },
    { name: 'treatment', weight: 50 },
  ],
  experiment: {
    control: 'control',
    guardrails: [{ metric: 'errorRate', maxRelativeIncrease: 0.1, minRequests: 200, pValue: 0.01 }],
  },
};

const snapshot: { flags: ExperimentFlagLike[] } = {
  flags: [
    {
      name: 'search',
      index: 0,
      variants: [
        { name: 'control', upTo: 0.5 },
        { name: 'treatment', upTo: 1 },
      ],
      experiment: { control: 'control', controlIndex: 0, guardrails: FLAG.experiment.guardrails as never },
    },
  ],
};

describe('startExperiments', () => {
  it('flushes and trips on its own timers; ffr results shows it', async () => {
    const k = redisKeys(r.prefix);
    await r.redis.set(k.flag('search'), JSON.stringify(FLAG));
    const experiments = startExperiments({
      redis: r.redis,
      prefix: r.prefix,
      flushMs: 50,
      ttlDays: 1,
      guardrailIntervalMs: 100,
      changes: casChangePath(r.redis, r.prefix),
      actor: 'test-replica',
    });
    try {
      const table = experiments.recorder.bind(snapshot);
      for (let i = 0; i < 1000; i++) {
        const variant = i % 2 === 0 ? 'control' : 'treatment';
        const observe = experiments.recorder.observerFor(snapshot, [{ flag: { index: 0 }, variant }])!;
        // treatment: i % 10 === 1 (100 of its 500); control: i % 50 === 0 (20 of its 500)
        observe((variant === 'treatment' && i % 10 === 1) || i % 50 === 0 ? 500 : 200, 12);
      }
      expect(table.dirty).toBe(true);
      const tripped = await waitFor(async () => (await r.redis.xlen(k.audit)) === 1, 10_000, 25);
      expect(tripped).toBe(true);
      const doc = JSON.parse((await r.redis.get(k.flag('search')))!) as typeof FLAG;
      expect(doc.variants[1]!.weight).toBe(0);

      const text = await resultsCommand(r.redis, r.prefix, ['search'], { ttlDays: 1 });
      expect(text.exitCode).toBe(0);
      expect(text.stdout).toMatch(/^experiment search, control "control"/);
      expect(text.stdout).toMatch(/treatment: errorRate at most \+10\.0% \(min 200, p < 0\.01\): TRIPPED/);
      expect(text.stdout).toMatch(
        /guardrail changes:\n {2}\S+: treatment weight set to 0: guardrail errorRate on search/,
      );
      const effect = await resultsCommand(r.redis, r.prefix, ['search', '--effect', '0.5'], { ttlDays: 1 });
      expect(effect.stdout).toMatch(/treatment: \+50\.0% on control's 4\.00% needs [\d,]+ control/);
      const json = await resultsCommand(r.redis, r.prefix, ['--json', 'search', '--since', '1h'], { ttlDays: 1 });
      const report = JSON.parse(json.stdout) as { variants: { name: string; requests: number; errors: number }[] };
      expect(report.variants).toMatchObject([
        { name: 'control', requests: 500, errors: 20 },
        { name: 'treatment', requests: 500, errors: 100 },
      ]);
    } finally {
      await experiments.stop();
    }
  });

  it('stop() flushes what is left', async () => {
    const experiments = startExperiments({
      redis: r.redis,
      prefix: r.prefix,
      flushMs: 60_000,
      ttlDays: 1,
      guardrailIntervalMs: 60_000,
      changes: null,
    });
    experiments.recorder.bind(snapshot);
    experiments.recorder.observerFor(snapshot, [{ flag: { index: 0 }, variant: 'control' }])!(200, 1);
    await experiments.stop();
    const report = await experiments.report('search', {});
    expect(report!.variants[0]!.requests).toBe(1);
  });
});

describe('resultsCommand arguments', () => {
  it.each([
    [[], 2, /usage: ffr results NAME/],
    [['Search'], 2, /unexpected argument "Search"/],
    [['search', '--since'], 2, /--since needs a duration/],
    [['search', '--since', 'yesterday'], 2, /--since needs a duration/],
    [['search', 'other'], 2, /unexpected argument "other"/],
    [['search', '--effect', '0'], 2, /--effect needs a relative increase/],
    [['search', '--effect', 'big'], 2, /--effect needs a relative increase/],
    [['search'], 1, /no experiment counts for search/],
  ])('%j → exit %i', async (args, code, message) => {
    const out = await resultsCommand(r.redis, r.prefix, args, { ttlDays: 1 });
    expect(out.exitCode).toBe(code);
    expect(out.stderr).toMatch(message);
    expect(out.stdout).toBe('');
  });
});
