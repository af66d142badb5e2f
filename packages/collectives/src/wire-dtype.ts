// Element encodings on the wire (enum WireDtype) and the kernels that convert
// between them and float32. Reductions always run in float32; bf16/f16 only
// halve the bytes for bandwidth-bound sizes (round to nearest even, NaN kept).
import { WireDtype } from './frame-codec.js';

export type WireFormat = 'f32' | 'bf16' | 'f16';

export function wireDtypeOf(format: WireFormat): WireDtype {
  return format === 'f32' ? WireDtype.F32 : format === 'bf16' ? WireDtype.BF16 : WireDtype.F16;
}

export function wireFormatName(dtype: number): string {
  return dtype === WireDtype.F32 ? 'f32' : dtype === WireDtype.BF16 ? 'bf16' : dtype === WireDtype.F16 ? 'f16' : `dtype ${dtype}`;
}

export function bytesPerElement(dtype: number): number {
  return dtype === WireDtype.F32 ? 4 : 2;
}

// ------------------------------------------------------------ scalar conversions

/** float32 bits → bfloat16 bits, round to nearest even. */
export function f32BitsToBf16(bits: number): number {
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 0x0040) & 0xffff; // quiet NaN
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** float32 bits → IEEE binary16 bits, round to nearest even, overflow to ±inf. */
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
    return sign | q;
  }
  const r = abs - 0x38000000;                              // rebias the exponent (127 → 15)
  return sign | ((r + 0xfff + ((r >>> 13) & 1)) >>> 13);
}

let f16Table: Float32Array | undefined;

/** binary16 bits → float32, via a 65536-entry table built on first use. */
function f16ToF32Table(): Float32Array {
  if (f16Table !== undefined) return f16Table;
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
  f16Table = t;
  return t;
}

// ------------------------------------------------------------ array kernels

/**
 * Encodes src[off, off+n) as `dtype` into `dst` at byte `at`, which must be
 * 4-byte aligned in memory (allocDataFrame guarantees it).
 */
export function encodeElements(dtype: number, dst: Buffer, at: number, src: Float32Array, off: number, n: number): void {
  if (n === 0) return;
  if (dtype === WireDtype.F32) {
    new Float32Array(dst.buffer, dst.byteOffset + at, n).set(src.subarray(off, off + n));
    return;
  }
  const out = new Uint16Array(dst.buffer, dst.byteOffset + at, n);
  const bits = new Uint32Array(src.buffer, src.byteOffset + off * 4, n);
  if (dtype === WireDtype.BF16) for (let i = 0; i < n; i++) out[i] = f32BitsToBf16(bits[i] as number);
  else for (let i = 0; i < n; i++) out[i] = f32BitsToF16(bits[i] as number);
}

/** Replaces a[off, off+n) by what it becomes after a trip through `dtype`. */
export function roundTripInPlace(dtype: number, a: Float32Array, off: number, n: number): void {
  if (dtype === WireDtype.F32 || n === 0) return;
  const bits = new Uint32Array(a.buffer, a.byteOffset + off * 4, n);
  if (dtype === WireDtype.BF16) {
    for (let i = 0; i < n; i++) bits[i] = (f32BitsToBf16(bits[i] as number) << 16) >>> 0;
  } else {
    const t = f16ToF32Table();
    for (let i = 0; i < n; i++) a[off + i] = t[f32BitsToF16(bits[i] as number)] as number;
  }
}

/** Grow-only aligned scratch memory, one per communicator (no per-frame allocation). */
export class Scratch {
  private buf = new ArrayBuffer(0);

  bytes(n: number): ArrayBuffer {
    if (this.buf.byteLength < n) this.buf = new ArrayBuffer(Math.max(n, this.buf.byteLength * 2, 4096));
    return this.buf;
  }
}

/** A float32 view of `n` f32 elements in `payload`; copies into scratch only when unaligned. */
function f32View(payload: Buffer, n: number, scratch: Scratch): Float32Array {
  if ((payload.byteOffset & 3) === 0) return new Float32Array(payload.buffer, payload.byteOffset, n);
  const mem = scratch.bytes(n * 4);
  payload.copy(new Uint8Array(mem, 0, n * 4));
  return new Float32Array(mem, 0, n);
}

/** A Uint16 view of `n` 16-bit elements in `payload`; copies into scratch only when unaligned. */
function u16View(payload: Buffer, n: number, scratch: Scratch): Uint16Array {
  if ((payload.byteOffset & 1) === 0) return new Uint16Array(payload.buffer, payload.byteOffset, n);
  const mem = scratch.bytes(n * 2);
  payload.copy(new Uint8Array(mem, 0, n * 2));
  return new Uint16Array(mem, 0, n);
}

/**
 * dst[at, at+n) = decode(payload)            when add is false
 * dst[at, at+n) = dst[at, at+n) + decode(payload)  when add is true (float32 adds)
 * `payload` holds exactly n elements of `dtype` (checked by the caller).
 */
export function applyPayload(add: boolean, dst: Float32Array, at: number, payload: Buffer, dtype: number, n: number, scratch: Scratch): void {
  if (n === 0) return;
  if (dtype === WireDtype.F32) {
    const src = f32View(payload, n, scratch);
    if (!add) { dst.set(src, at); return; }
    for (let i = 0; i < n; i++) dst[at + i] = (dst[at + i] as number) + (src[i] as number);
    return;
  }
  // 16-bit: the view may live in scratch bytes [0, 2n); decoded floats go to [4n, 8n).
  const h = u16View(payload, n, scratch);
  if (dtype === WireDtype.BF16) {
    if (!add) {
      const out = new Uint32Array(dst.buffer, dst.byteOffset + at * 4, n);
      for (let i = 0; i < n; i++) out[i] = ((h[i] as number) << 16) >>> 0;
      return;
    }
    const mem = scratch.bytes(8 * n);
    const tmpU = new Uint32Array(mem, 4 * n, n);
    const tmpF = new Float32Array(mem, 4 * n, n);
    for (let i = 0; i < n; i++) tmpU[i] = ((h[i] as number) << 16) >>> 0;
    for (let i = 0; i < n; i++) dst[at + i] = (dst[at + i] as number) + (tmpF[i] as number);
    return;
  }
  const t = f16ToF32Table();
  if (!add) for (let i = 0; i < n; i++) dst[at + i] = t[h[i] as number] as number;
  else for (let i = 0; i < n; i++) dst[at + i] = (dst[at + i] as number) + (t[h[i] as number] as number);
}
