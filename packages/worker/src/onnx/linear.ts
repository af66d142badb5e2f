// The projections of the shard segments: y = x W^T for W (out, in), either a float32 Gemm or,
// with --weights q8|q4, onnxruntime's MatMulNBits over block-quantized codes (@octoserve/model's
// quantize.ts: symmetric, default zero points, blocks of 32 along K).
import { QUANT_BLOCK, type QuantizedMatrix } from '@octoserve/model';
import type { GraphBuilder } from './graph-builder.js';

/**
 * A quantized weight whose blocks are anchored at multiples of 32 of the global K: its columns run
 * from the block start before this rank's K-slice to the block end after it, so the input is
 * widened by `padLeft` zero columns before and `padRight` after (zero inputs meet the neighbours'
 * columns, which only set the boundary blocks' scales).
 */
export interface QuantizedWeight {
  q: QuantizedMatrix;
  padLeft: number;
  padRight: number;
  /** Quantize the input to int8 per block and multiply in integers (q8a8, q4a8). */
  int8Activations?: boolean;
}

/** A projection's weight: float32 (out, in) row-major, or quantized. */
export type MatrixWeight = Float32Array | QuantizedWeight;

/** Bytes a weight holds in memory. */
export function matrixBytes(w: MatrixWeight): number {
  return w instanceof Float32Array ? w.byteLength : w.q.packed.byteLength + w.q.scales.byteLength;
}

/**
 * Adds `w` as initializers named after `name` and returns a function applying it to an input
 * [T, in]; `bias` [out] is added when given. Float weights keep a Gemm (transB).
 */
export function projection(g: GraphBuilder, name: string, w: MatrixWeight, dims: readonly [out: number, inputs: number], bias?: string): (x: string, out?: string) => string {
  const [n, k] = dims;
  if (w instanceof Float32Array) {
    const wt = g.weight(name, w, [n, k]);
    return (x, out) => g.op('Gemm', bias === undefined ? [x, wt] : [x, wt, bias], { transB: 1 }, out);
  }
  const { q, padLeft, padRight } = w;
  if (q.n !== n || q.k !== k + padLeft + padRight) throw new Error(`quantized ${name}: [${q.n}, ${q.k}] codes for a [${n}, ${k}] projection padded by ${padLeft} + ${padRight}`);
  const blob = (QUANT_BLOCK * q.bits) / 8;
  const codes = g.bytes(`${name}_q`, q.packed, [n, q.blocks, blob]);
  const scales = g.weight(`${name}_scales`, q.scales, [n * q.blocks]);
  const pads = padLeft + padRight > 0 ? g.ints(`${name}_pads`, [0, padLeft, 0, padRight]) : undefined;
  return (x, out) => {
    const a = pads === undefined ? x : g.op('Pad', [x, pads]);
    // accuracy_level 0: A stays float32 and B is dequantized, (code - zero point) * scale. The CPU
    // build has a packed kernel for this with 4 bits; with 8 it dequantizes all of B on every call
    // (exact, but slower than a float Gemm: stories110M shape, tp=1, 357 ms a step against 42 in
    // f32), so CPU workers widen such weights at load (weightsForDevice) and they arrive here as
    // floats. accuracy_level 4 quantizes A to int8 per block and runs integer dot products (23.5 ms
    // with 8 bits, 19.2 with 4, against 24.6 for q4 at level 0).
    const attrs = { K: q.k, N: n, bits: q.bits, block_size: QUANT_BLOCK, accuracy_level: w.int8Activations === true ? 4 : 0 };
    if (bias === undefined) return g.contribOp('MatMulNBits', [a, codes, scales], attrs, out);
    return g.op('Add', [g.contribOp('MatMulNBits', [a, codes, scales], attrs), bias], {}, out);
  };
}

/**
 * A projection whose float32 weight [out, inputs] is a graph input, fed at run time, not an
 * initializer: onnxruntime then reads the caller's array instead of pre-packing a copy of its own.
 * stories110M's [32000, 768] classifier alone, one thread: 3.69 -> 4.06 ms a row, 28.2 -> 42.7 ms
 * for 64 rows (a Medusa tree), for one copy of 94 MiB less.
 */
export function fedProjection(g: GraphBuilder, name: string, dims: readonly [out: number, inputs: number]): (x: string, out?: string) => string {
  const wt = g.input(name, dims);
  return (x, out) => g.op('Gemm', [x, wt], { transB: 1 }, out);
}

/** y = x W^T, writing the output `out` when named. */
export function linear(g: GraphBuilder, x: string, name: string, w: MatrixWeight, dims: readonly [number, number], out?: string): string {
  return projection(g, name, w, dims)(x, out);
}
