// Tempered-softmax helpers for callers that hold a node's full logits
// (the single-process path and tests). Vocab-parallel callers merge the same
// quantities from per-shard pieces instead.

/**
 * Inverse-CDF sample from p = softmax(z / T): the smallest v with
 * sum_{w <= v} p_w > u. One uniform u in [0, 1) per draw; allocates nothing.
 * z is logits[offset .. offset + n) (default: all of `logits`).
 */
export function sampleFromLogits(logits: ArrayLike<number>, temperature: number, u: number, offset = 0, n = logits.length - offset): number {
  if (n <= 0) throw new Error('cannot sample from an empty vocabulary');
  if (!(temperature > 0)) throw new Error(`sampling needs a temperature > 0, got ${temperature}`);
  let max = -Infinity;
  for (let v = 0; v < n; v++) max = Math.max(max, logits[offset + v] as number);
  let sum = 0;
  for (let v = 0; v < n; v++) sum += Math.exp(((logits[offset + v] as number) - max) / temperature);
  const target = u * sum;
  let cumulative = 0;
  let last = 0; // last token with non-zero mass, in case rounding leaves target unreached
  for (let v = 0; v < n; v++) {
    const w = Math.exp(((logits[offset + v] as number) - max) / temperature);
    if (w === 0) continue;
    cumulative += w;
    last = v;
    if (cumulative > target) return v;
  }
  return last;
}

/**
 * Writes log sum_v exp(z_v / T) and H(softmax(z / T)) (nats) for one node
 * into logSumExp[node] and entropy[node] (z: logits[offset .. offset + n), default all):
 *
 *   lse = m + log sum_v exp(z_v / T - m),   m = max_v z_v / T
 *   H   = lse - sum_v p_v z_v / T
 */
export function writeSoftmaxStats(
  logits: ArrayLike<number>, // [V] raw logits at the node
  temperature: number,
  node: number,
  logSumExp: Float64Array | Float32Array, // [N]
  entropy: Float64Array | Float32Array, // [N]
  offset = 0,
  n = logits.length - offset,
): void {
  if (!(temperature > 0)) throw new Error(`softmax statistics need a temperature > 0, got ${temperature}`);
  let m = -Infinity;
  for (let v = 0; v < n; v++) m = Math.max(m, (logits[offset + v] as number) / temperature);
  let s = 0;
  let sz = 0;
  for (let v = 0; v < n; v++) {
    const z = (logits[offset + v] as number) / temperature;
    const w = Math.exp(z - m);
    s += w;
    sz += w * z;
  }
  const lse = m + Math.log(s);
  logSumExp[node] = lse;
  entropy[node] = lse - sz / s;
}
