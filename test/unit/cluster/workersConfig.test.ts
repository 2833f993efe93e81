import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../src/config/config.js';

describe('PROFLAG_WORKERS', () => {
  it.each([
    [undefined, 1],
    ['1', 1],
    ['2', 2],
    ['256', 256],
    ['auto', availableParallelism()],
  ])('%s → %d workers', (value, workers) => {
    expect(loadConfig(value === undefined ? {} : { PROFLAG_WORKERS: value }).workers).toBe(workers);
  });

  it.each(['0', '257', '2.5', '-1', 'all', 'AUTO'])('refuses %s with a clear message', (value) => {
    expect(() => loadConfig({ PROFLAG_WORKERS: value })).toThrow(ConfigError);
    expect(() => loadConfig({ PROFLAG_WORKERS: value })).toThrow(
      /PROFLAG_WORKERS=.*auto, or 1 to 256 worker processes/,
    );
  });
});
