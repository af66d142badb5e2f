// The slices of a checkpoint that one tensor-parallel rank holds, read by block so a
// rank never reads the whole model. Used by a worker reading its own file and by a
// coordinator streaming slices to a worker that cannot reach the file.
//
// Slice names and shapes (rows × columns, row-major):
//   tok_embeddings              [vocabSize, dim]             replicated
//   layers.{l}.attention_norm   [dim]
//   layers.{l}.wqkv             [(heads + 2 kvHeads) headDim, dim]  its rows of wq, then wk, then wv
//   layers.{l}.wo               [dim, heads headDim]         its columns of wo
//   layers.{l}.ffn_norm         [dim]
//   layers.{l}.w13              [2 hidden, dim]              its rows of w1, then of w3
//   layers.{l}.w2               [dim, hidden]                its columns of w2
//   norm                        [dim]
//   output                      [vocab, dim]                 its vocabulary rows
import type { Checkpoint } from './checkpoint.js';

export interface SliceRange {
  start: number;
  end: number;
}

/** The ranges a rank owns (heads and kvHeads count heads, not rows). */
export interface SliceAssignment {
  heads: SliceRange;
  kvHeads: SliceRange;
  hidden: SliceRange;
  vocab: SliceRange;
}

export interface ShardSlice {
  name: string;
  shape: [number, number];
  data: Float32Array;
}

function concatRows(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Reads the slices of `a` from `ckpt`, one at a time (a generator keeps at most one in flight). */
export function* readShardSlices(ckpt: Checkpoint, a: SliceAssignment): Generator<ShardSlice> {
  const { dim, headDim: hd, nLayers } = ckpt.config;
  const rows = (name: string, r: SliceRange, scale = 1): Float32Array => ckpt.readBlock(name, r.start * scale, r.end * scale, 0, dim);
  const cols = (name: string, r: SliceRange, scale = 1): Float32Array => ckpt.readBlock(name, 0, dim, r.start * scale, r.end * scale);
  const heads = a.heads.end - a.heads.start;
  const kvHeads = a.kvHeads.end - a.kvHeads.start;
  const hidden = a.hidden.end - a.hidden.start;
  yield { name: 'tok_embeddings', shape: [ckpt.config.vocabSize, dim], data: ckpt.read('tok_embeddings') };
  for (let l = 0; l < nLayers; l++) {
    const p = `layers.${l}.`;
    yield { name: `${p}attention_norm`, shape: [1, dim], data: ckpt.read(`${p}attention_norm`) };
    const qkv = [rows(`${p}wq`, a.heads, hd), rows(`${p}wk`, a.kvHeads, hd), rows(`${p}wv`, a.kvHeads, hd)];
    yield { name: `${p}wqkv`, shape: [(heads + 2 * kvHeads) * hd, dim], data: concatRows(qkv) };
    yield { name: `${p}wo`, shape: [dim, heads * hd], data: cols(`${p}wo`, a.heads, hd) };
    yield { name: `${p}ffn_norm`, shape: [1, dim], data: ckpt.read(`${p}ffn_norm`) };
    yield { name: `${p}w13`, shape: [2 * hidden, dim], data: concatRows([rows(`${p}w1`, a.hidden), rows(`${p}w3`, a.hidden)]) };
    yield { name: `${p}w2`, shape: [dim, hidden], data: cols(`${p}w2`, a.hidden) };
  }
  yield { name: 'norm', shape: [1, dim], data: ckpt.read('norm') };
  yield { name: 'output', shape: [a.vocab.end - a.vocab.start, dim], data: rows('output', a.vocab) };
}
