// float16 (IEEE binary16) and bfloat16 to and from float32, bit-exact: round to nearest even,
// overflow to ±inf, subnormals kept, NaN stays a (quiet) NaN. The checkpoint readers decode
// F16/BF16 tensors with these and the collectives encode 16-bit wire payloads with them.

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/** The float32 bit pattern of `value`. */
export function f32Bits(value: number): number {
  F32[0] = value;
  return U32[0]!;
}

/** float32 bits → bfloat16 bits (the top half, rounded to nearest even). */
export function f32BitsToBf16(bits: number): number {
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 0x0040) & 0xffff; // quiet NaN
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** float32 bits → binary16 bits, round to nearest even, overflow to ±inf. */
export function f32BitsToF16(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const abs = bits & 0x7fffffff;
  if (abs >= 0x7f800000) return sign | 0x7c00 | (abs > 0x7f800000 ? 0x200 | ((abs >>> 13) & 0x3ff) : 0);
  if (abs >= 0x477ff000) return sign | 0x7c00;            // ≥ 65520 rounds to inf
  if (abs < 0x38800000) {                                  // below 2^-14: subnormal or zero
    if (abs <= 0x33000000) return sign;                    // ≤ 2^-25 rounds to zero (tie to even)
    const e = abs >>> 23;
    const m = (abs & 0x7fffff) | 0x800000;
    const shift = 126 - e;                                 // 14..24
    const half = 1 << (shift - 1);
    const rem = m & ((1 << shift) - 1);
    let q = m >>> shift;
    if (rem > half || (rem === half && (q & 1) === 1)) q++;
    return sign | q;                                       // a carry into the exponent is right
  }
  const r = abs - 0x38000000;                              // rebias the exponent (127 → 15)
  return sign | ((r + 0xfff + ((r >>> 13) & 1)) >>> 13);
}

/** binary16 bits of `value`. */
export function f32ToF16Bits(value: number): number {
  return f32BitsToF16(f32Bits(value));
}

/** bfloat16 bits of `value`. */
export function f32ToBf16Bits(value: number): number {
  return f32BitsToBf16(f32Bits(value));
}

let table: Float32Array | undefined;

/** The float32 value of every binary16 bit pattern (65536 entries), built on first use. */
export function f16Table(): Float32Array {
  if (table !== undefined) return table;
  const t = new Float32Array(65536);
  const u = new Uint32Array(t.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const e = (h >>> 10) & 0x1f;
    const m = h & 0x3ff;
    if (e === 0) t[h] = (sign !== 0 ? -1 : 1) * m * 5.960464477539063e-8; // m * 2^-24, exact
    else if (e === 31) u[h] = (sign | 0x7f800000 | (m << 13)) >>> 0;
    else u[h] = (sign | ((e + 112) << 23) | (m << 13)) >>> 0;
  }
  table = t;
  return t;
}

/** out[outOffset + i] = binary16 bits src[i] as float32. */
export function f16ToF32(src: Uint16Array, out: Float32Array, outOffset = 0): void {
  const t = f16Table();
  const n = src.length;
  for (let i = 0; i < n; i++) out[outOffset + i] = t[src[i]!]!;
}

/** out[outOffset + i] = bfloat16 bits src[i] as float32 (the top half of a float32). */
export function bf16ToF32(src: Uint16Array, out: Float32Array, outOffset = 0): void {
  const out32 = new Uint32Array(out.buffer, out.byteOffset + outOffset * 4, src.length);
  const n = src.length;
  for (let i = 0; i < n; i++) out32[i] = src[i]! << 16;
}
