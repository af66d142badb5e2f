// What a tensor-parallel rank holds: its assignment (worker.proto ShardAssignment, computed by the
// coordinator's plan and never recomputed by a worker) and the table of the slices it is built
// from. The checkpoint slicer and the worker's shard assembly both read this one table.
//
// Slice names and shapes (rows × columns, row-major). A rank holds its vocabulary rows of the
// token embedding ('embedding', the rows a token it chose on its own comes from: StepRequest's
// greedy_tokens); the coordinator looks each requested step's rows up and sends them
// (StepRequest.x). A shared classifier's 'output' is the same rows:
//   layers.{l}.attention_norm   [1, dim]
//   layers.{l}.wqkv             [(heads + 2 kvHeads) headDim, dim]  its rows of wq, then wk, then wv
//   layers.{l}.wo               [dim, heads headDim]                its columns of wo
//   layers.{l}.ffn_norm         [1, dim]
//   layers.{l}.w13              [2 hidden, dim]                     its rows of w1, then of w3
//   layers.{l}.w2               [dim, hidden]                       its columns of w2
//   norm                        [1, dim]
//   output                      [vocab, dim]                        its vocabulary rows
//   embedding                   [vocab, dim]                        its vocabulary rows of tok_embeddings

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
  /** Read as float32 even where the checkpoint stores it block-quantized (a table rows are looked up in, not a matmul weight). */
  float32?: boolean;
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
  specs.push({ name: 'embedding', shape: [rangeSize(a.vocab), dim], blocks: [rowsOf('tok_embeddings', a.vocab)], float32: true });
  return specs;
}

/** A named slice with its floats. */
export interface ShardSlice {
  name: string;
  shape: [number, number];
  data: Float32Array;
}

/** Columns per block of a block-quantized weight (GGUF's Q8_0 / Q4_0, onnxruntime's MatMulNBits). */
export const QUANT_BLOCK_COLUMNS = 32;

/** Block-quantized rows in MatMulNBits' layout (@octoserve/model's QuantizedMatrix). */
export interface QuantizedRows {
  bits: 4 | 8;
  n: number;                 // rows
  k: number;                 // columns
  blocks: number;            // per row
  packed: Uint8Array;        // [n, blocks, 32 * bits / 8]
  scales: Float32Array;      // [n, blocks]
}

/**
 * A slice of a weight the checkpoint stores block-quantized, as stored (never widened to floats):
 * `shape` is the weights it stands for; a column slice (wo, w2) starting or ending inside a block
 * carries the whole boundary blocks, `padLeft` / `padRight` columns beyond it on each side.
 */
export interface QuantizedSlice {
  name: string;
  shape: [number, number];
  q: QuantizedRows;
  padLeft: number;
  padRight: number;
}

/** Either kind of slice a rank is built from. */
export type AnyShardSlice = ShardSlice | QuantizedSlice;

export function isQuantizedSlice(s: AnyShardSlice): s is QuantizedSlice {
  return 'q' in s;
}

/** What the slicer needs of a checkpoint (@octoserve/model's Checkpoint has it). */
export interface BlockReader {
  readonly config: ShardDims;
  /** Rows [r0, r1) and columns [c0, c1) of a tensor, row-major (a 1-D tensor is one row). */
  readBlock(name: string, r0: number, r1: number, c0: number, c1: number): Float32Array;
  /** The bits of a tensor stored block-quantized, else undefined (or no method: none is). */
  quantizedBits?(name: string): 4 | 8 | undefined;
  /** Rows [r0, r1), columns [c0, c1) (on block boundaries) of such a tensor, as stored. */
  readQuantizedBlock?(name: string, r0: number, r1: number, c0: number, c1: number): QuantizedRows;
}

/**
 * Reads the slices of `a` from `ckpt`, one at a time (a generator keeps at most one in flight). A
 * slice whose source tensors are all stored block-quantized with the same bits comes as stored
 * (QuantizedSlice); any other is read as float32.
 */
export function* readShardSlices(ckpt: BlockReader, a: ShardAssignment): Generator<AnyShardSlice> {
  for (const spec of shardLayout(ckpt.config, a)) {
    const q = spec.float32 === true ? undefined : readQuantizedSlice(ckpt, spec);
    if (q !== undefined) { yield q; continue; }
    const parts = spec.blocks.map((b) => ckpt.readBlock(b.tensor, b.rows.start, b.rows.end, b.cols.start, b.cols.end));
    yield { name: spec.name, shape: spec.shape, data: concat(parts, (n) => new Float32Array(n)) };
  }
}

/** `spec` as stored, when every block of it is block-quantized alike; rows stack, a column range widens to whole blocks. */
function readQuantizedSlice(ckpt: BlockReader, spec: SliceSpec): QuantizedSlice | undefined {
  const read = ckpt.readQuantizedBlock?.bind(ckpt);
  const bits = ckpt.quantizedBits?.(spec.blocks[0]?.tensor ?? '');
  if (read === undefined || bits === undefined || spec.blocks.some((b) => ckpt.quantizedBits?.(b.tensor) !== bits)) return undefined;
  const first = spec.blocks[0]!;
  const start = Math.floor(first.cols.start / QUANT_BLOCK_COLUMNS) * QUANT_BLOCK_COLUMNS;
  const end = Math.ceil(first.cols.end / QUANT_BLOCK_COLUMNS) * QUANT_BLOCK_COLUMNS;
  const padLeft = first.cols.start - start;
  const padRight = end - first.cols.end;
  if (spec.blocks.some((b) => b.cols.start !== first.cols.start || b.cols.end !== first.cols.end)) return undefined;
  const parts = spec.blocks.map((b) => read(b.tensor, b.rows.start, b.rows.end, start, end));
  if (parts.length === 1) return { name: spec.name, shape: spec.shape, q: parts[0]!, padLeft, padRight };
  const q: QuantizedRows = {
    bits, n: parts.reduce((n, p) => n + p.n, 0), k: parts[0]!.k, blocks: parts[0]!.blocks,
    packed: concat(parts.map((p) => p.packed), (n) => new Uint8Array(n)), scales: concat(parts.map((p) => p.scales), (n) => new Float32Array(n)),
  };
  return { name: spec.name, shape: spec.shape, q, padLeft, padRight };
}


/** The parts end to end in one new array (`alloc` makes it). */
function concat<A extends Float32Array | Uint8Array>(parts: readonly A[], alloc: (length: number) => A): A {
  if (parts.length === 1) return parts[0]!;
  const out = alloc(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
