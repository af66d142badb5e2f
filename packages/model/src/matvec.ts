// Matrix-vector product, the inner loop of every projection.

/**
 * out[outOffset + i] = sum_j w[i * cols + j] * x[j] for i < rows.
 * w: [rows, cols] row-major (out, in); x: [cols]. Accumulates in float64. Four rows per pass and
 * two columns per step, so each x[j] is loaded once for four rows (measured ~15-20% faster in V8
 * than one row at a time).
 */
export function matvec(out: Float32Array, w: Float32Array, x: Float32Array, rows: number, cols: number, outOffset = 0): void {
  const even = cols & ~1;
  let i = 0;
  for (; i + 3 < rows; i += 4) {
    const a = i * cols;
    const b = a + cols;
    const c = b + cols;
    const d = c + cols;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let j = 0; j < even; j += 2) {
      const x0 = x[j]!;
      const x1 = x[j + 1]!;
      s0 += w[a + j]! * x0 + w[a + j + 1]! * x1;
      s1 += w[b + j]! * x0 + w[b + j + 1]! * x1;
      s2 += w[c + j]! * x0 + w[c + j + 1]! * x1;
      s3 += w[d + j]! * x0 + w[d + j + 1]! * x1;
    }
    if (even < cols) {
      const xl = x[even]!;
      s0 += w[a + even]! * xl;
      s1 += w[b + even]! * xl;
      s2 += w[c + even]! * xl;
      s3 += w[d + even]! * xl;
    }
    out[outOffset + i] = s0;
    out[outOffset + i + 1] = s1;
    out[outOffset + i + 2] = s2;
    out[outOffset + i + 3] = s3;
  }
  for (; i < rows; i++) {
    const a = i * cols;
    let s = 0;
    for (let j = 0; j < cols; j++) s += w[a + j]! * x[j]!;
    out[outOffset + i] = s;
  }
}
