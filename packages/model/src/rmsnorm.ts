// RMSNorm: out = weight * x / sqrt(mean(x^2) + eps).

/** out[0..n) = weight ⊙ x[0..n) / rms(x); out may be x. */
export function rmsnorm(out: Float32Array, x: Float32Array, weight: Float32Array, eps: number, n = x.length): void {
  let ss = 0;
  for (let i = 0; i < n; i++) ss += x[i]! * x[i]!;
  const scale = 1 / Math.sqrt(ss / n + eps);
  for (let i = 0; i < n; i++) out[i] = weight[i]! * (scale * x[i]!);
}
