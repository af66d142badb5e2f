// Element types a checkpoint may store, and their conversion to and from float32 (the
// half-precision kernels are @octoserve/numerics', shared with the collectives).
import { bf16ToF32, f16ToF32, f32ToBf16Bits, f32ToF16Bits } from '@octoserve/numerics';
import { ModelError } from './errors.js';

export { bf16ToF32, f16ToF32, f32ToBf16Bits, f32ToF16Bits };

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

/** `src` encoded as `dtype`, as little-endian bytes. */
export function encodeTensor(src: Float32Array, dtype: DType): Uint8Array {
  if (dtype === 'F32') return new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
  const out = new Uint16Array(src.length);
  const encode = dtype === 'F16' ? f32ToF16Bits : f32ToBf16Bits;
  for (let i = 0; i < src.length; i++) out[i] = encode(src[i]!);
  return new Uint8Array(out.buffer);
}
