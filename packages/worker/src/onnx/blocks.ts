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
 * Rotary embedding of x [1, T, heads * headDim], one node (ONNX opset 23's RotaryEmbedding): each
 * pair (a, b) of a head (interleaved: elements 2i, 2i+1, llama2.c; half: i, i + headDim/2, Hugging
 * Face) becomes a·cos - b·sin, b·cos + a·sin, with cos/sin [1, T, headDim / 2] one angle per pair.
 */
export function rope(g: GraphBuilder, x: string, heads: number, layout: 'interleaved' | 'half', cos: string, sin: string): string {
  return g.op('RotaryEmbedding', [x, cos, sin], { num_heads: heads, interleaved: layout === 'interleaved' ? 1 : 0 });
}

/** SiLU(gate) * up. */
export function swiGlu(g: GraphBuilder, gate: string, up: string): string {
  return g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), up]);
}
