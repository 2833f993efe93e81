// The experiment variables in src/config/config.ts: defaults, bounds, one message per wrong value.
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../src/config/config.js';

describe('experiment configuration', () => {
  it('defaults: flush every second, 30-day buckets, guardrails every 10 s', () => {
    expect(loadConfig({})).toMatchObject({
      experimentFlushMs: 1000,
      experimentTtlDays: 30,
      guardrailIntervalMs: 10_000,
    });
  });

  it('reads the variables', () => {
    const c = loadConfig({
      PROFLAG_EXPERIMENT_FLUSH_MS: '5000',
      PROFLAG_EXPERIMENT_TTL_DAYS: '7',
      PROFLAG_GUARDRAIL_INTERVAL_MS: '60000',
    });
    expect(c).toMatchObject({ experimentFlushMs: 5000, experimentTtlDays: 7, guardrailIntervalMs: 60_000 });
  });

  it('refuses flushes more often than once a second, and other nonsense', () => {
    let error: unknown;
    try {
      loadConfig({
        PROFLAG_EXPERIMENT_FLUSH_MS: '100',
        PROFLAG_EXPERIMENT_TTL_DAYS: '0',
        PROFLAG_GUARDRAIL_INTERVAL_MS: 'often',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toContain('PROFLAG_EXPERIMENT_FLUSH_MS="100"');
    expect(problems).toContain('PROFLAG_EXPERIMENT_TTL_DAYS="0"');
    expect(problems).toContain('PROFLAG_GUARDRAIL_INTERVAL_MS="often"');
  });
});
