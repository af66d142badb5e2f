// GGUF's block types Q8_0 and Q4_0: blocks of 32 consecutive elements of a row, each an f16 scale d
// followed by the codes.
//   Q8_0: 32 x int8 q;                 element j = q[j] * d
//   Q4_0: 16 bytes b; element j < 16 = ((b[j] & 0xF) - 8) * d, element j + 16 = ((b[j] >> 4) - 8) * d
// Elements are float32 products (as ggml dequantizes them).
import { f16Table, f32ToF16Bits } from '@octoserve/numerics';
import { ModelError } from './errors.js';
import { GGML_BLOCK, type GgmlType } from './gguf-format.js';

export const QK = 32;
let table: Float32Array | undefined;

function halfValue(bytes: Uint8Array, at: number): number {
  table ??= f16Table();
  return table[bytes[at]! | (bytes[at + 1]! << 8)]!;
}

/**
 * Columns [colStart, colEnd) of one row of a Q8_0 or Q4_0 matrix whose row bytes start at
 * `bytes[at]`, dequantized into out[outOffset ...]. Only the blocks that hold those columns are read.
 */
export function dequantizeGgmlRow(
  type: 'Q8_0' | 'Q4_0', bytes: Uint8Array, at: number, colStart: number, colEnd: number, out: Float32Array, outOffset: number,
): void {
  const blockBytes = GGML_BLOCK[type].bytes;
  for (let b = Math.floor(colStart / QK); b * QK < colEnd; b++) {
    const base = at + b * blockBytes;
    const d = halfValue(bytes, base);
    const lo = Math.max(colStart, b * QK);
    const hi = Math.min(colEnd, (b + 1) * QK);
    for (let col = lo; col < hi; col++) {
      const j = col - b * QK;
      let q: number;
      if (type === 'Q8_0') {
        const byte = bytes[base + 2 + j]!;
        q = byte >= 128 ? byte - 256 : byte;
      } else {
        const byte = bytes[base + 2 + (j & 15)]!;
        q = (j < 16 ? byte & 0x0f : byte >> 4) - 8;
      }
      out[outOffset + col - colStart] = Math.fround(q * d);
    }
  }
}

/**
 * Blocks [b0, b1) of one Q8_0 or Q4_0 row whose bytes start at `bytes[at]`, as MatMulNBits holds
 * them (quantize.ts' QuantizedMatrix): per block the codes plus the default zero point (Q8_0: q + 128,
 * Q4_0's codes are already offset by 8), two 4-bit codes a byte low nibble first, into
 * packed[packedAt ...], and the scale d as float32 into scales[scalesAt ...]. Only the nibble order
 * changes: the weights (code - zero point) * d are the stored ones bit for bit.
 */
export function ggmlRowToNBits(
  type: 'Q8_0' | 'Q4_0', bytes: Uint8Array, at: number, b0: number, b1: number,
  packed: Uint8Array, packedAt: number, scales: Float32Array, scalesAt: number,
): void {
  const blockBytes = GGML_BLOCK[type].bytes;
  for (let b = b0; b < b1; b++) {
    const base = at + b * blockBytes;
    scales[scalesAt + b - b0] = halfValue(bytes, base);
    if (type === 'Q8_0') {
      const out = packedAt + (b - b0) * QK;
      for (let j = 0; j < QK; j++) packed[out + j] = bytes[base + 2 + j]! ^ 0x80; // two's complement + 128
    } else {
      const out = packedAt + (b - b0) * (QK / 2);
      // element j < 16 is the low nibble of byte j, element j + 16 its high nibble
      const code = (j: number): number => (j < 16 ? bytes[base + 2 + j]! & 0x0f : bytes[base + 2 + j - 16]! >> 4);
      for (let i = 0; i < QK / 2; i++) packed[out + i] = code(2 * i) | (code(2 * i + 1) << 4);
    }
  }
}

/** `row` (a multiple of 32 elements) as Q8_0 or Q4_0 blocks. */
export function quantizeGgmlRow(type: 'Q8_0' | 'Q4_0', row: Float32Array): Uint8Array {
  if (row.length % QK !== 0) throw new ModelError(`${type} rows must be whole blocks of ${QK} elements, got ${row.length}`);
  const blockBytes = GGML_BLOCK[type].bytes;
  const out = new Uint8Array((row.length / QK) * blockBytes);
  table ??= f16Table();
  for (let b = 0; b * QK < row.length; b++) {
    const x = row.subarray(b * QK, (b + 1) * QK);
    // Q8_0: d = max|x| / 127, codes in [-127, 127]. Q4_0: d = m / -8 for the x of largest magnitude
    // m, so that m itself is code -8 and the codes use all of [-8, 7].
    let m = 0;
    for (const v of x) if (Math.abs(v) > Math.abs(m)) m = v;
    const bits = f32ToF16Bits(type === 'Q8_0' ? Math.abs(m) / 127 : m / -8);
    const d = table[bits]!;
    const base = b * blockBytes;
    out[base] = bits & 0xff;
    out[base + 1] = bits >> 8;
    const inv = d === 0 ? 0 : 1 / d;
    for (let j = 0; j < QK; j++) {
      if (type === 'Q8_0') {
        out[base + 2 + j] = Math.max(-127, Math.min(127, Math.round(x[j]! * inv))) & 0xff;
      } else {
        const q = Math.max(0, Math.min(15, Math.round(x[j]! * inv) + 8));
        const k = base + 2 + (j & 15);
        out[k] = out[k]! | (j < 16 ? q : q << 4);
      }
    }
  }
  return out;
}

/** Whether rows of `cols` elements can be stored as `type`. */
export function fitsType(type: GgmlType, cols: number): boolean {
  return cols % GGML_BLOCK[type].elements === 0;
}
