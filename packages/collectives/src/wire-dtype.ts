// Element encodings on the wire (enum WireDtype) and the kernels that convert
// between them and float32. Reductions always run in float32; bf16/f16 only
// halve the bytes for bandwidth-bound sizes (round to nearest even, NaN kept).
import { f16Table, f32BitsToBf16, f32BitsToF16 } from '@octoserve/numerics';
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
    const t = f16Table();
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
  const t = f16Table();
  if (!add) for (let i = 0; i < n; i++) dst[at + i] = t[h[i] as number] as number;
  else for (let i = 0; i < n; i++) dst[at + i] = (dst[at + i] as number) + (t[h[i] as number] as number);
}
