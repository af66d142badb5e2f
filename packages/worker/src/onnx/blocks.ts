// Graph blocks shared by the shard segments: RMSNorm, RoPE, SwiGLU.
import type { GraphBuilder } from './graph-builder.js';

/** y = w * x / sqrt(mean(x^2) + eps), over the last axis. x: [T, dim], w: [dim]. */
export function rmsNorm(g: GraphBuilder, x: string, w: string, eps: string): string {
  const meanSquare = g.op('ReduceMean', [g.op('Mul', [x, x])], { axes: [-1], keepdims: 1 });
  const rms = g.op('Sqrt', [g.op('Add', [meanSquare, eps])]);
  return g.op('Mul', [g.op('Div', [x, rms]), w]);
}

/**
 * Rotary embedding of x: [T, heads * headDim] given cos/sin: [T, 1, headDim/2, 1]
 * (interleaved: pairs (2i, 2i+1), llama2.c) or [T, 1, 1, headDim/2] (half: pairs
 * (i, i + headDim/2), Hugging Face). Returns [T, heads, headDim].
 */
export function rope(
  g: GraphBuilder, x: string, heads: number, headDim: number,
  layout: 'interleaved' | 'half', cos: string, sin: string,
): string {
  const pairShape = layout === 'interleaved' ? [0, heads, headDim / 2, 2] : [0, heads, 2, headDim / 2];
  const axis = layout === 'interleaved' ? 3 : 2;
  const pairs = g.op('Reshape', [x, g.ints(`${x}_pair_shape`, pairShape)]);
  const [a, b] = g.opN('Split', [pairs], { axis }, 2) as [string, string];
  const ra = g.op('Sub', [g.op('Mul', [a, cos]), g.op('Mul', [b, sin])]);
  const rb = g.op('Add', [g.op('Mul', [a, sin]), g.op('Mul', [b, cos])]);
  const rotated = g.op('Concat', [ra, rb], { axis });
  return g.op('Reshape', [rotated, g.ints(`${x}_head_shape`, [0, heads, headDim])]);
}

/** SiLU(gate) * up. */
export function swiGlu(g: GraphBuilder, gate: string, up: string): string {
  return g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), up]);
}
