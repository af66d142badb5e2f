// What a tensor-parallel rank holds: its assignment (worker.proto ShardAssignment, computed by the
// coordinator's plan and never recomputed by a worker) and the table of the slices it is built
// from. The checkpoint slicer and the worker's shard assembly both read this one table.
//
// Slice names and shapes (rows × columns, row-major); no rank holds the token embedding: the
// coordinator looks each step's rows up and sends them (StepRequest.x), and a shared classifier's
// 'output' is this rank's rows of the embedding:
//   layers.{l}.attention_norm   [1, dim]
//   layers.{l}.wqkv             [(heads + 2 kvHeads) headDim, dim]  its rows of wq, then wk, then wv
//   layers.{l}.wo               [dim, heads headDim]                its columns of wo
//   layers.{l}.ffn_norm         [1, dim]
//   layers.{l}.w13              [2 hidden, dim]                     its rows of w1, then of w3
//   layers.{l}.w2               [dim, hidden]                       its columns of w2
//   norm                        [1, dim]
//   output                      [vocab, dim]                        its vocabulary rows

/** A half-open range [start, end). */
export interface Range {
  start: number;
  end: number;
}

/** What the coordinator's plan gives one rank (heads and kvHeads count heads, not rows). */
export interface ShardAssignment {
  rank: number;
  tp: number;
  heads: Range;      // query heads
  kvHeads: Range;    // KV heads held (replicas when tp > nKvHeads)
  hidden: Range;     // FFN rows of w1/w3, columns of w2
  vocab: Range;      // LM head rows
}

/** The model sizes the layout depends on (a subset of @octoserve/model's ModelConfig). */
export interface ShardDims {
  dim: number;
  headDim: number;
  nLayers: number;
  vocabSize: number;
}

export const rangeSize = (r: Range): number => r.end - r.start;

/** One source block of a slice: rows [r0, r1) and columns [c0, c1) of a checkpoint tensor. */
export interface SliceBlock {
  tensor: string;
  rows: Range;
  cols: Range;
}

/** One slice of the table: its name, its shape, and the checkpoint blocks it is cut from, stacked by rows. */
export interface SliceSpec {
  name: string;
  shape: [rows: number, cols: number];
  blocks: SliceBlock[];
}

/** The slices rank `a` holds, in the order they are read and sent. */
export function shardLayout(d: ShardDims, a: ShardAssignment): SliceSpec[] {
  const { dim, headDim: hd } = d;
  const all = (n: number): Range => ({ start: 0, end: n });
  const scaled = (r: Range, s: number): Range => ({ start: r.start * s, end: r.end * s });
  const rowsOf = (tensor: string, r: Range): SliceBlock => ({ tensor, rows: r, cols: all(dim) });
  const colsOf = (tensor: string, c: Range): SliceBlock => ({ tensor, rows: all(dim), cols: c });
  const heads = rangeSize(a.heads);
  const kvHeads = rangeSize(a.kvHeads);
  const hidden = rangeSize(a.hidden);
  const specs: SliceSpec[] = [];
  for (let l = 0; l < d.nLayers; l++) {
    const p = `layers.${l}.`;
    specs.push(
      { name: `${p}attention_norm`, shape: [1, dim], blocks: [{ tensor: `${p}attention_norm`, rows: all(1), cols: all(dim) }] },
      { name: `${p}wqkv`, shape: [(heads + 2 * kvHeads) * hd, dim], blocks: [rowsOf(`${p}wq`, scaled(a.heads, hd)), rowsOf(`${p}wk`, scaled(a.kvHeads, hd)), rowsOf(`${p}wv`, scaled(a.kvHeads, hd))] },
      { name: `${p}wo`, shape: [dim, heads * hd], blocks: [colsOf(`${p}wo`, scaled(a.heads, hd))] },
      { name: `${p}ffn_norm`, shape: [1, dim], blocks: [{ tensor: `${p}ffn_norm`, rows: all(1), cols: all(dim) }] },
      { name: `${p}w13`, shape: [2 * hidden, dim], blocks: [rowsOf(`${p}w1`, a.hidden), rowsOf(`${p}w3`, a.hidden)] },
      { name: `${p}w2`, shape: [dim, hidden], blocks: [colsOf(`${p}w2`, a.hidden)] },
    );
  }
  specs.push({ name: 'norm', shape: [1, dim], blocks: [{ tensor: 'norm', rows: all(1), cols: all(dim) }] });
  specs.push({ name: 'output', shape: [rangeSize(a.vocab), dim], blocks: [rowsOf('output', a.vocab)] });
  return specs;
}

/** A named slice with its floats. */
export interface ShardSlice {
  name: string;
  shape: [number, number];
  data: Float32Array;
}

/** What the slicer needs of a checkpoint (@octoserve/model's Checkpoint has it). */
export interface BlockReader {
  readonly config: ShardDims;
  /** Rows [r0, r1) and columns [c0, c1) of a tensor, row-major (a 1-D tensor is one row). */
  readBlock(name: string, r0: number, r1: number, c0: number, c1: number): Float32Array;
}

/** Reads the slices of `a` from `ckpt`, one at a time (a generator keeps at most one in flight). */
export function* readShardSlices(ckpt: BlockReader, a: ShardAssignment): Generator<ShardSlice> {
  for (const spec of shardLayout(ckpt.config, a)) {
    const parts = spec.blocks.map((b) => ckpt.readBlock(b.tensor, b.rows.start, b.rows.end, b.cols.start, b.cols.end));
    yield { name: spec.name, shape: spec.shape, data: parts.length === 1 ? parts[0]! : concat(parts) };
  }
}

function concat(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
