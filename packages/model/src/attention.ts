// Causal multi-head attention with grouped KV heads, over a per-layer KV cache.
import { maskedAttention } from './masked-attention.js';

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
  maskedAttention(out, q, keyCache, valueCache, scores, positionSlots(nPos), nPos, nHeads, nKvHeads, headDim, maxSeqLen);
}

/** Slots 0, 1, 2, ...: every cached position, in order (grown once, then reused). */
let allSlots = new Int32Array(0);
function positionSlots(n: number): Int32Array {
  if (allSlots.length < n) allSlots = Int32Array.from({ length: Math.max(n, 2 * allSlots.length) }, (_, i) => i);
  return allSlots;
}
