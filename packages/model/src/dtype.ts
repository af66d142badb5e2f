// Element types a checkpoint may store, and their conversion to and from float32.
// Half-precision conversions are written out here: a 64K-entry table for f16, a shift for bf16.
import { ModelError } from './errors.js';

export type DType = 'F32' | 'F16' | 'BF16';

const BYTES: Record<DType, number> = { F32: 4, F16: 2, BF16: 2 };

export function isDType(s: string): s is DType {
  return s === 'F32' || s === 'F16' || s === 'BF16';
}

export function dtypeBytes(dtype: DType): number {
  return BYTES[dtype];
}

export function parseDType(s: string, where: string): DType {
  if (!isDType(s)) {
    throw new ModelError(`${where}: unknown dtype '${s}' (supported: F32, F16, BF16)`);
  }
  return s;
}

/** The float32 value of every f16 bit pattern, built on first use. */
let f16Table: Float32Array | null = null;

function f16ToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24; // zero and subnormals
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

function f16ToF32Table(): Float32Array {
  if (f16Table === null) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16ToFloat(h);
  }
  return f16Table;
}

/** out[i] = f16 bits src[i] as float32. */
export function f16ToF32(src: Uint16Array, out: Float32Array, outOffset = 0): void {
  const table = f16ToF32Table();
  const n = src.length;
  for (let i = 0; i < n; i++) out[outOffset + i] = table[src[i]!]!;
}

/** out[i] = bf16 bits src[i] as float32 (the top half of a float32). */
export function bf16ToF32(src: Uint16Array, out: Float32Array, outOffset = 0): void {
  const out32 = new Uint32Array(out.buffer, out.byteOffset + outOffset * 4, src.length);
  const n = src.length;
  for (let i = 0; i < n; i++) out32[i] = src[i]! << 16;
}

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** f16 bits of `value`, rounded to nearest even; overflow gives ±inf, NaN stays NaN. */
export function f32ToF16Bits(value: number): number {
  scratchF32[0] = value;
  const x = scratchU32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15; // f16 biased exponent
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // f16 subnormal: value = m * 2^-24 with m = (1.mant) >> (14 - e)
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 2 ** (shift - 1);
    let m = Math.floor(mant / 2 ** shift);
    const rem = mant - m * 2 ** shift;
    if (rem > half || (rem === half && (m & 1) === 1)) m++;
    return sign | m; // a carry into the exponent field is the right answer
  }
  let bits = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (bits & 1) === 1)) bits++; // may carry up to inf: also right
  return sign | bits;
}

/** bf16 bits of `value`, rounded to nearest even; NaN stays NaN. */
export function f32ToBf16Bits(value: number): number {
  scratchF32[0] = value;
  const x = scratchU32[0]!;
  if ((x & 0x7fffffff) > 0x7f800000) return (x >>> 16) | 0x40;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** `src` encoded as `dtype`, as little-endian bytes. */
export function encodeTensor(src: Float32Array, dtype: DType): Uint8Array {
  if (dtype === 'F32') return new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
  const out = new Uint16Array(src.length);
  const encode = dtype === 'F16' ? f32ToF16Bits : f32ToBf16Bits;
  for (let i = 0; i < src.length; i++) out[i] = encode(src[i]!);
  return new Uint8Array(out.buffer);
}
