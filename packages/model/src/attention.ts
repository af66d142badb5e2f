// Causal multi-head attention with grouped KV heads, over a per-layer KV cache.

/** x[0..n) ← softmax(x[0..n)), in place. */
export function softmax(x: Float32Array, n: number, offset = 0): void {
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (x[offset + i]! > max) max = x[offset + i]!;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const e = Math.exp(x[offset + i]! - max);
    x[offset + i] = e;
    sum += e;
  }
  for (let i = 0; i < n; i++) x[offset + i] = x[offset + i]! / sum;
}

/**
 * out[h] = softmax(q[h] · K[g]^T / sqrt(headDim)) · V[g] for every query head h, where
 * g = floor(h / kvMul) is its KV head and K, V hold positions 0..nPos-1.
 *   out, q:                 [nHeads * headDim]
 *   keyCache, valueCache:   [maxSeqLen, nKvHeads * headDim] (one layer)
 *   scores:                 [nHeads * maxSeqLen] scratch
 */
export function attention(
  out: Float32Array, q: Float32Array, keyCache: Float32Array, valueCache: Float32Array, scores: Float32Array,
  nPos: number, nHeads: number, nKvHeads: number, headDim: number, maxSeqLen: number,
): void {
  const kvDim = nKvHeads * headDim;
  const kvMul = nHeads / nKvHeads;
  const scale = 1 / Math.sqrt(headDim);
  for (let h = 0; h < nHeads; h++) {
    const qOff = h * headDim;
    const kvOff = Math.floor(h / kvMul) * headDim;
    const sOff = h * maxSeqLen;
    // scores of this head against every cached key: q·k / sqrt(headDim)
    let max = -Infinity;
    for (let t = 0; t < nPos; t++) {
      const kOff = t * kvDim + kvOff;
      let dot = 0;
      for (let i = 0; i < headDim; i++) dot += q[qOff + i]! * keyCache[kOff + i]!;
      const score = dot * scale;
      scores[sOff + t] = score;
      if (score > max) max = score;
    }
    // softmax numerators; the 1/sum is applied to the weighted sum below
    let sum = 0;
    for (let t = 0; t < nPos; t++) {
      const e = Math.exp(scores[sOff + t]! - max);
      scores[sOff + t] = e;
      sum += e;
    }
    // weighted sum of the cached values
    const inv = 1 / sum;
    for (let i = 0; i < headDim; i++) {
      let acc = 0;
      for (let t = 0, v = kvOff + i; t < nPos; t++, v += kvDim) acc += scores[sOff + t]! * valueCache[v]!;
      out[qOff + i] = acc * inv;
    }
  }
}
