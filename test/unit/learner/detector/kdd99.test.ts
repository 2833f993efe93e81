// Half-Space Trees on a slice of the public KDD Cup 1999 HTTP benchmark, prequential, in stream
// order (bench/kdd99.bench.ts runs the whole stream and the shuffled order).
//
// The slice: records 180,000–330,000 (150,000 records, 2,005 attacks: a lone attack at 201,669
// and the two 1,000-record bursts at 311,452 and 316,163, the hardest part of the stream for a
// short reference window). The first 150,000 records of the file hold no attack at all.
// Measured with the defaults (25 trees × depth 8, window 20,000, affine map fitted on the slice's
// first 20,000 records): this slice 0.9934–0.9969 over seeds 1–5 (0.9942 with seed 1); the whole
// stream 0.9915–0.9991 (0.9941 with seed 1). The test asserts the QUALITY.md bar itself, 0.99.
import { describe, expect, it } from 'vitest';
import { runHst } from '../../../../bench/kdd99.bench.js';
import { rocAuc } from '../../../../src/learner/core/detector/auc.js';
import { kdd99Unavailable, loadKdd99 } from '../../../helpers/kdd99.js';

const missing = kdd99Unavailable();
const SLICE = { start: 180_000, count: 150_000 } as const;

describe.skipIf(missing !== null)(`Half-Space Trees on KDD99 HTTP${missing ? ` (skipped: ${missing})` : ''}`, () => {
  it('stream order, default options: ROC AUC ≥ 0.99', async () => {
    const data = await loadKdd99(SLICE);
    expect(data.n).toBe(150_000);
    expect(data.labels.reduce((a, b) => a + b, 0)).toBe(2_005);
    const { scores } = runHst(data, { name: 'hst', hst: {} }, 1);
    expect(rocAuc(scores, data.labels)).toBeGreaterThanOrEqual(0.99);
  });

  it("the paper's 250-record window is defeated by the bursts (AUC < 0.6)", async () => {
    const data = await loadKdd99(SLICE);
    const { scores } = runHst(data, { name: 'hst.w250', hst: { window: 250 } }, 1);
    expect(rocAuc(scores, data.labels)).toBeLessThan(0.6);
  });
});
