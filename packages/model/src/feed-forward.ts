// The SwiGLU feed-forward block: w2(silu(w1 x) * (w3 x)).
import { matvec } from './matvec.js';

/** hb[i] ← silu(hb[i]) * hb2[i], with silu(z) = z / (1 + e^-z). */
export function swiglu(hb: Float32Array, hb2: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const z = hb[i]!;
    hb[i] = (z / (1 + Math.exp(-z))) * hb2[i]!;
  }
}

/**
 * out = w2 · (silu(w1 · x) ⊙ (w3 · x)).
 *   x, out: [dim]   w1, w3: [hiddenDim, dim]   w2: [dim, hiddenDim]   hb, hb2: [hiddenDim] scratch
 */
export function feedForward(
  out: Float32Array, x: Float32Array, w1: Float32Array, w2: Float32Array, w3: Float32Array,
  hb: Float32Array, hb2: Float32Array, dim: number, hiddenDim: number,
): void {
  matvec(hb, w1, x, hiddenDim, dim);
  matvec(hb2, w3, x, hiddenDim, dim);
  swiglu(hb, hb2, hiddenDim);
  matvec(out, w2, hb, dim, hiddenDim);
}
