import { describe, expect, it } from 'vitest';
import { escapeGlob, redisKeys } from '../../../src/store/redisKeys.js';

describe('redisKeys', () => {
  it('spells the CONTRACT §2 layout under the prefix', () => {
    const k = redisKeys('proflag:');
    expect(k.flag('checkout-v2')).toBe('proflag:flag:checkout-v2');
    expect(k.version).toBe('proflag:version');
    expect(k.changes).toBe('proflag:changes');
    expect(k.audit).toBe('proflag:audit');
    expect(k.proposals).toBe('proflag:proposals');
    expect(k.proposal('p1')).toBe('proflag:proposal:p1');
    expect(k.status('pod-1')).toBe('proflag:status:pod-1');
    expect(k.flagPattern).toBe('proflag:flag:*');
  });

  it('keeps a cluster hash tag in every key, so one script touches one slot', () => {
    const k = redisKeys('{proflag}:');
    for (const key of [k.flag('a'), k.version, k.audit, k.proposal('x'), k.proposals, k.status('r')]) {
      expect(key.startsWith('{proflag}:')).toBe(true);
    }
  });

  it('escapes glob characters so a prefix matches only itself', () => {
    expect(escapeGlob('a*b?c[d]e\\f')).toBe('a\\*b\\?c\\[d\\]e\\\\f');
    expect(redisKeys('x[1]:').flagPattern).toBe('x\\[1\\]:flag:*');
  });
});
