import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { rocAuc } from '../../../../src/learner/core/detector/auc.js';

/** The definition: P(score of a positive > score of a negative) + ½ P(tie), by all pairs. */
function pairwiseAuc(scores: readonly number[], labels: readonly number[]): number {
  let wins = 0;
  let pairs = 0;
  for (let i = 0; i < scores.length; i++) {
    if (!labels[i]) continue;
    for (let j = 0; j < scores.length; j++) {
      if (labels[j]) continue;
      pairs++;
      if (scores[i]! > scores[j]!) wins += 1;
      else if (scores[i] === scores[j]) wins += 0.5;
    }
  }
  return wins / pairs;
}

describe('rocAuc', () => {
  it.each([
    ['perfect ranking', [0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1], 1],
    ['reversed ranking', [0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1], 0],
    ['all tied', [0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1], 0.5],
    // positives 0.8 and 0.4 against negatives 0.1, 0.4, 0.5: 3 + (1 + 0.5) = 4.5 of 6 pairs
    ['ties averaged', [0.1, 0.4, 0.5, 0.8, 0.4], [0, 0, 0, 1, 1], 4.5 / 6],
    ['one positive in the middle', [1, 2, 3, 4, 5], [0, 0, 1, 0, 0], 0.5],
    ['booleans as labels', [3, 1, 2], [true, false, false], 1],
  ] as const)('%s', (_name, scores, labels, expected) => {
    expect(rocAuc(scores, labels)).toBeCloseTo(expected, 12);
  });

  it('is NaN when a class is missing or the lengths differ', () => {
    expect(rocAuc([1, 2, 3], [0, 0, 0])).toBeNaN();
    expect(rocAuc([1, 2, 3], [1, 1, 1])).toBeNaN();
    expect(rocAuc([1, 2], [0, 1, 1])).toBeNaN();
    expect(rocAuc([], [])).toBeNaN();
  });

  it('equals the pairwise definition on random inputs with ties', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 6 }), fc.boolean()), { minLength: 2, maxLength: 60 }),
        (rows) => {
          const scores = rows.map(([s]) => s / 2);
          const labels = rows.map(([, l]): number => (l ? 1 : 0));
          const positives = labels.reduce((a, b) => a + b, 0);
          if (positives === 0 || positives === labels.length) return;
          expect(rocAuc(scores, labels)).toBeCloseTo(pairwiseAuc(scores, labels), 10);
        },
      ),
    );
  });

  it('accepts typed arrays', () => {
    expect(rocAuc(Float64Array.of(0.3, 0.1, 0.9), Uint8Array.of(0, 0, 1))).toBe(1);
  });
});
