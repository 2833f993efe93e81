import { describe, expect, it } from 'vitest';
import { compileEndpointPatterns } from '../../../src/matcher/glob.js';

describe('endpoint patterns', () => {
  const cases: [string[], string, boolean][] = [
    [['/checkout'], '/checkout', true],
    [['/checkout'], '/checkout/cart', false],
    [['/checkout/*'], '/checkout/cart', true],
    [['/checkout/*'], '/checkout', false],
    [['/checkout/*'], '/checkout/a/b', false],
    [['/api/**'], '/api', true],
    [['/api/**'], '/api/v1/users/{id}', true],
    [['/api/**'], '/apix', false],
    [['/users/*/orders'], '/users/{id}/orders', true],
    [['/a.b'], '/aXb', false],
    [['/'], '/', true],
    [['/'], '/x', false],
    [['/x', '/y/**'], '/y/z', true],
    [['/**'], '/anything/at/all', true],
  ];
  it.each(cases)('%j matches %s: %s', (patterns, path, expected) => {
    expect(compileEndpointPatterns(patterns).test(path)).toBe(expected);
  });
});
