// The k largest entries of a row of logits, best first, without allocating.

/**
 * Writes the ids of the k largest x[offset + v] (v < n) into ids[idsOffset .. idsOffset + k), best
 * first; among equal values the lower id ranks first (as argmax does). `vals` is [>= k] scratch.
 * Insertion into a sorted list of k: O(n·k) worst case, O(n) for the usual k <= 10.
 */
export function topKInto(
  x: Float32Array, offset: number, n: number, k: number,
  ids: Int32Array, idsOffset: number, vals: Float32Array,
): void {
  if (k > n) throw new Error(`top-${k} of ${n} values`);
  if (vals.length < k) throw new Error(`top-k scratch holds ${vals.length} values; k is ${k}`);
  let filled = 0;
  for (let v = 0; v < n; v++) {
    const value = x[offset + v]!;
    if (filled === k && !(value > vals[k - 1]!)) continue;
    // shift down the entries this value beats (strictly), then insert
    let j = filled < k ? filled++ : k - 1;
    while (j > 0 && value > vals[j - 1]!) {
      vals[j] = vals[j - 1]!;
      ids[idsOffset + j] = ids[idsOffset + j - 1]!;
      j--;
    }
    vals[j] = value;
    ids[idsOffset + j] = v;
  }
}

/** Index of the largest x[offset + v], v < n; the lowest index wins ties (as @octoserve/model's argmax). */
export function argmaxAt(x: Float32Array, offset: number, n: number): number {
  let best = 0;
  let bestValue = x[offset]!;
  for (let v = 1; v < n; v++) {
    if (x[offset + v]! > bestValue) {
      best = v;
      bestValue = x[offset + v]!;
    }
  }
  return best;
}
