// Graph blocks shared by the shard segments: RMSNorm, RoPE, SwiGLU.
import type { GraphBuilder } from './graph-builder.js';

/**
 * y = w * x / sqrt(mean(x^2) + eps), over the last axis. x: [T, dim], w: [dim]. One node:
 * onnxruntime's SimplifiedLayerNormalization (the six standard operators it replaces cost a
 * few microseconds each per step on small models).
 */
export function rmsNorm(g: GraphBuilder, x: string, w: string, eps: number): string {
  return g.op('SimplifiedLayerNormalization', [x, w], { axis: -1, epsilon: { float: eps }, stash_type: 1 });
}

/**
 * The [headDim, headDim] matrix R with x·R the partner of each element, signed: for a pair (a, b)
 * (interleaved: elements 2i, 2i+1, llama2.c; half: i, i + headDim/2, Hugging Face), (x·R) holds -b
 * where x holds a and a where x holds b. Each column has one ±1, so x·R is exact.
 */
export function ropeRotation(headDim: number, layout: 'interleaved' | 'half'): Float32Array {
  const r = new Float32Array(headDim * headDim);
  for (let i = 0; i < headDim / 2; i++) {
    const a = layout === 'interleaved' ? 2 * i : i;
    const b = layout === 'interleaved' ? 2 * i + 1 : i + headDim / 2;
    r[b * headDim + a] = -1;   // column a takes -x[b]
    r[a * headDim + b] = 1;    // column b takes x[a]
  }
  return r;
}

/**
 * Rotary embedding of x: [T, heads * headDim] → [T, heads, headDim]: x·cos + (x·R)·sin, that is
 * a·cos - b·sin and b·cos + a·sin for each pair (a, b), with cos/sin [T, 1, headDim] holding each
 * element's angle (its pair's) and R from ropeRotation.
 */
export function rope(g: GraphBuilder, x: string, heads: number, headDim: number, rotation: string, cos: string, sin: string): string {
  const xh = g.op('Reshape', [x, g.ints(`${x}_head_shape`, [0, heads, headDim])]);
  return g.op('Add', [g.op('Mul', [xh, cos]), g.op('Mul', [g.op('MatMul', [xh, rotation]), sin])]);
}

/** SiLU(gate) * up. */
export function swiGlu(g: GraphBuilder, gate: string, up: string): string {
  return g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), up]);
}
