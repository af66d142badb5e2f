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

/** Slots 0, 1, 2, ..., n-1: every cached position in order, the list the plain path attends to. */
export function positionSlots(n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => i);
}

/**
 * out[h] = softmax(q[h] · K[g]^T / sqrt(headDim)) · V[g] for every query head h, where
 * g = floor(h / kvMul) is its KV head and K, V hold positions 0..nPos-1.
 *   out, q:                 [nHeads * headDim]
 *   keyCache, valueCache:   [maxSeqLen, nKvHeads * headDim] (one layer)
 *   scores:                 [nHeads * maxSeqLen] scratch
 *   positions:              [>= nPos] 0, 1, 2, ... (positionSlots, owned by the caller's state)
 */
export function attention(
  out: Float32Array, q: Float32Array, keyCache: Float32Array, valueCache: Float32Array, scores: Float32Array,
  positions: Int32Array, nPos: number, nHeads: number, nKvHeads: number, headDim: number, maxSeqLen: number,
): void {
  maskedAttention(out, q, keyCache, valueCache, scores, positions, nPos, nHeads, nKvHeads, headDim, maxSeqLen);
}
