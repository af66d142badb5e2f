// Attention over an explicit list of cache slots: the tree step of Medusa, where a token sees the
// committed past and only its own ancestors among the step's new tokens.

/**
 * Writes the slots token `i` of a step may attend to into slots[0..n) and returns n:
 *   0 .. past-1                                 (the committed cache)
 *   past + j  for j <= i with mask[i*T + j] = 1   (its ancestors and itself)
 * With no mask every j <= i is attended (causal). Slots come out ascending, the order the
 * plain path visits positions in, so a chain gives bit-identical sums. The reference's tree
 * step and the worker's additive attention mask are both built from this list.
 */
export function attendedSlots(slots: Int32Array, past: number, mask: ArrayLike<number> | undefined, i: number, T: number): number {
  let n = 0;
  for (let t = 0; t < past; t++) slots[n++] = t;
  const row = i * T;
  for (let j = 0; j <= i; j++) if (mask === undefined || mask[row + j] === 1) slots[n++] = past + j;
  return n;
}

/**
 * out[h] = softmax(q[h] · K[g, slots]^T / sqrt(headDim)) · V[g, slots], g = floor(h / kvMul):
 * attention over the cache rows listed in slots[0..nSlots) (attention() passes 0..n-1).
 *   out, q:                 [nHeads * headDim]
 *   keyCache, valueCache:   [maxSeqLen, nKvHeads * headDim] (one layer)
 *   scores:                 [nHeads * maxSeqLen] scratch
 *   slots:                  [>= nSlots] ascending cache rows
 */
export function maskedAttention(
  out: Float32Array, q: Float32Array, keyCache: Float32Array, valueCache: Float32Array, scores: Float32Array,
  slots: Int32Array, nSlots: number, nHeads: number, nKvHeads: number, headDim: number, maxSeqLen: number,
): void {
  const kvDim = nKvHeads * headDim;
  const kvMul = nHeads / nKvHeads;
  const scale = 1 / Math.sqrt(headDim);
  for (let h = 0; h < nHeads; h++) {
    const qOff = h * headDim;
    const kvOff = Math.floor(h / kvMul) * headDim;
    const sOff = h * maxSeqLen;
    // scores against every attended key: q·k / sqrt(headDim)
    let max = -Infinity;
    for (let t = 0; t < nSlots; t++) {
      const kOff = slots[t]! * kvDim + kvOff;
      let dot = 0;
      for (let i = 0; i < headDim; i++) dot += q[qOff + i]! * keyCache[kOff + i]!;
      const score = dot * scale;
      scores[sOff + t] = score;
      if (score > max) max = score;
    }
    // softmax numerators; the 1/sum is applied to the weighted sum below
    let sum = 0;
    for (let t = 0; t < nSlots; t++) {
      const e = Math.exp(scores[sOff + t]! - max);
      scores[sOff + t] = e;
      sum += e;
    }
    // weighted sum of the attended values
    const inv = 1 / sum;
    for (let i = 0; i < headDim; i++) {
      let acc = 0;
      for (let t = 0; t < nSlots; t++) acc += scores[sOff + t]! * valueCache[slots[t]! * kvDim + kvOff + i]!;
      out[qOff + i] = acc * inv;
    }
  }
}
