// ROC AUC by ranks (the Mann–Whitney U statistic): the probability that a randomly chosen
// positive scores above a randomly chosen negative, ties counted as one half. Sorting costs
// O(n log n); no threshold sweep, exact with ties (tied scores share their average rank).

/**
 * ROC AUC of `scores` (higher = more positive) against `labels` (non-zero = positive).
 * NaN when either class is empty or the lengths differ.
 */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number | boolean>): number {
  const n = scores.length;
  if (n !== labels.length || n === 0) return NaN;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => scores[a]! - scores[b]!);
  let positives = 0;
  let positiveRankSum = 0;
  let i = 0;
  while (i < n) {
    // A run of tied scores [i, j) shares the average of ranks i+1 .. j.
    let j = i + 1;
    const s = scores[order[i]!]!;
    while (j < n && scores[order[j]!]! === s) j++;
    const avgRank = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) {
      if (labels[order[k]!]) {
        positives++;
        positiveRankSum += avgRank;
      }
    }
    i = j;
  }
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) return NaN;
  return (positiveRankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}
