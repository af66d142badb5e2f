// Block quantization of matmul weights (--weights q8|q4), shared by the reference engine and the
// tensor-parallel workers so both hold bit-identical dequantized weights.
//
// Scheme: symmetric, no zero points stored. A matrix W (out, in) = (N, K) is cut along K into
// blocks of QUANT_BLOCK columns anchored at multiples of QUANT_BLOCK of the *global* K (the last
// block may be short). Per row and block: scale = roundScale(max|w| / qmax), qmax = 2^(bits-1) - 1,
// code = clamp(round(w / scale), -qmax, qmax), stored as code + 2^(bits-1) (MatMulNBits' default
// zero point). Dequantized: code * scale.
//
// roundScale keeps 16 significant bits of the scale, so code * scale (at most 8 + 16 bits) is exact
// in float32 whichever way a kernel forms it ((q - zp) * s, q * s - zp * s, an FMA): the weights a
// worker's MatMulNBits multiplies by are exactly the reference's dequantized weights.
import type { ModelConfig } from './config.js';
import { ModelError } from './errors.js';

// The formats q8a8 and q4a8 hold the same codes as q8 and q4; the workers' matmuls then quantize
// their inputs to int8 too (per block of 32, as llama.cpp's Q8 activations) and multiply in
// integers: faster on CPUs, no longer the reference's float32 product. The reference engine runs
// them as q8 / q4 (it dequantizes the weights, the activations stay float32), so greedy output
// agrees with it on most tokens, not all; bench decode reports how many.
export type WeightFormat = 'f32' | 'q8' | 'q4' | 'q8a8' | 'q4a8';
export const WEIGHT_FORMATS: readonly WeightFormat[] = ['f32', 'q8', 'q4', 'q8a8', 'q4a8'];
/** Columns of K per block (MatMulNBits' block_size). */
export const QUANT_BLOCK = 32;

export function isWeightFormat(s: string): s is WeightFormat {
  return (WEIGHT_FORMATS as readonly string[]).includes(s);
}

/** Parses a --weights value; '' means f32. */
export function parseWeightFormat(s: string): WeightFormat {
  if (s === '') return 'f32';
  if (!isWeightFormat(s)) throw new ModelError(`unknown weight format '${s}': use ${WEIGHT_FORMATS.join(', ')}`);
  return s;
}

export function weightBits(format: WeightFormat): 4 | 8 {
  if (format === 'f32') throw new ModelError('f32 weights are not quantized');
  return format === 'q8' || format === 'q8a8' ? 8 : 4;
}

/** Whether a format's matmuls quantize their activations to int8 (q8a8, q4a8). */
export function int8Activations(format: WeightFormat): boolean {
  return format === 'q8a8' || format === 'q4a8';
}

/** A block-quantized (N, K) matrix in MatMulNBits' layout. */
export interface QuantizedMatrix {
  bits: 4 | 8;
  n: number;
  k: number;
  blocks: number;                  // per row: ceil(k / QUANT_BLOCK)
  packed: Uint8Array;              // [n, blocks, QUANT_BLOCK * bits / 8], codes low nibble first
  scales: Float32Array;            // [n, blocks]
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** `s` rounded to 16 significant bits (round half up on the magnitude), as float32. */
function roundScale(s: number): number {
  f32[0] = s;
  u32[0] = ((u32[0]! + 0x80) & 0xffffff00) >>> 0;
  return f32[0]!;
}

/**
 * Quantizes rows of `w` (row-major, `cols` columns per row) over columns [c0, c1), blocks starting
 * at c0 (which the caller anchors at a multiple of QUANT_BLOCK of the global K). `visit` gets each
 * row's block scale and codes (signed) as they are made.
 */
function quantizeRows(
  w: Float32Array, rows: number, cols: number, bits: 4 | 8,
  visit: (row: number, block: number, scale: number, codes: Int8Array, len: number) => void,
): void {
  const qmax = (1 << (bits - 1)) - 1;
  const codes = new Int8Array(QUANT_BLOCK);
  const blocks = Math.ceil(cols / QUANT_BLOCK);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let b = 0; b < blocks; b++) {
      const start = b * QUANT_BLOCK;
      const len = Math.min(QUANT_BLOCK, cols - start);
      let amax = 0;
      for (let i = 0; i < len; i++) amax = Math.max(amax, Math.abs(w[base + start + i]!));
      const scale = roundScale(amax / qmax);
      for (let i = 0; i < len; i++) {
        const q = scale === 0 ? 0 : Math.round(w[base + start + i]! / scale);
        codes[i] = Math.max(-qmax, Math.min(qmax, q));
      }
      visit(r, b, scale, codes, len);
    }
  }
}

/** Quantizes an (n, k) row-major matrix, blocks anchored at its column 0. */
export function quantizeMatrix(w: Float32Array, n: number, k: number, bits: 4 | 8): QuantizedMatrix {
  if (w.length !== n * k) throw new ModelError(`quantizeMatrix: ${w.length} floats for a [${n}, ${k}] matrix`);
  const blocks = Math.ceil(k / QUANT_BLOCK);
  const blob = (QUANT_BLOCK * bits) / 8;
  const packed = new Uint8Array(n * blocks * blob);
  const scales = new Float32Array(n * blocks);
  const zp = 1 << (bits - 1);
  quantizeRows(w, n, k, bits, (r, b, scale, codes, len) => {
    scales[r * blocks + b] = scale;
    const at = (r * blocks + b) * blob;
    // the padding of a short block holds code 0 (the zero point): it dequantizes to 0
    for (let i = 0; i < QUANT_BLOCK; i++) {
      const u = (i < len ? codes[i]! : 0) + zp;
      if (bits === 8) packed[at + i] = u;
      else packed[at + (i >> 1)]! |= (i & 1) === 0 ? u : u << 4;
    }
  });
  return { bits, n, k, blocks, packed, scales };
}

/**
 * Columns [c0, c1) of a quantized matrix as float32 (n, c1 - c0), code x scale as MatMulNBits
 * dequantizes them (an integer code times a float32 scale, rounded once to float32).
 */
export function dequantizeColumns(q: QuantizedMatrix, c0 = 0, c1 = q.k): Float32Array {
  if (c0 < 0 || c1 > q.k || c0 > c1) throw new ModelError(`dequantizeColumns: columns [${c0}, ${c1}) of a [${q.n}, ${q.k}] matrix`);
  const cols = c1 - c0;
  const out = new Float32Array(q.n * cols);
  const blob = (QUANT_BLOCK * q.bits) / 8;
  const zp = 1 << (q.bits - 1);
  for (let r = 0; r < q.n; r++) {
    for (let c = c0; c < c1; c++) {
      const b = (c / QUANT_BLOCK) | 0;
      const i = c % QUANT_BLOCK;
      const at = (r * q.blocks + b) * blob;
      const u = q.bits === 8 ? q.packed[at + i]! : (q.packed[at + (i >> 1)]! >> ((i & 1) * 4)) & 0xf;
      out[r * cols + c - c0] = (u - zp) * q.scales[r * q.blocks + b]!;
    }
  }
  return out;
}

/** The float32 weights a quantized (n, k) matrix stands for: quantized then dequantized, in place. */
export function dequantizeInPlace(w: Float32Array, n: number, k: number, bits: 4 | 8): Float32Array {
  if (w.length !== n * k) throw new ModelError(`dequantize: ${w.length} floats for a [${n}, ${k}] matrix`);
  quantizeRows(w, n, k, bits, (r, b, scale, codes, len) => {
    const at = r * k + b * QUANT_BLOCK;
    for (let i = 0; i < len; i++) w[at + i] = codes[i]! * scale;
  });
  return w;
}

/** The matmul weights of a model, by canonical layer tensor (every one blocked along its K = columns). */
export const QUANTIZED_LAYER_TENSORS = ['wq', 'wk', 'wv', 'wo', 'w1', 'w2', 'w3'] as const;

/** [rows, cols] of a layer matmul weight. */
export function layerMatrixShape(config: ModelConfig, t: (typeof QUANTIZED_LAYER_TENSORS)[number]): [number, number] {
  const { dim, hiddenDim, qDim, kvDim } = config;
  switch (t) {
    case 'wq': return [qDim, dim];
    case 'wk': case 'wv': return [kvDim, dim];
    case 'wo': return [dim, qDim];
    case 'w1': case 'w3': return [hiddenDim, dim];
    case 'w2': return [dim, hiddenDim];
  }
}

/** A half-open column range. */
export interface ColumnRange {
  start: number;
  end: number;
}

/** The columns [a0, a1) a K-slice [start, end) of a K-column matrix needs to be quantized in whole global blocks. */
export function blockAlignedRange(r: ColumnRange, k: number): ColumnRange {
  if (r.end <= r.start) return { start: r.start, end: r.start };
  return { start: Math.floor(r.start / QUANT_BLOCK) * QUANT_BLOCK, end: Math.min(k, Math.ceil(r.end / QUANT_BLOCK) * QUANT_BLOCK) };
}

/** What a rank holds along the K of the K-split weights: query heads (wo's columns) and FFN rows (w2's). */
export interface KSplit {
  heads: ColumnRange;
  hidden: ColumnRange;
}

/** A slice of named rows x columns (the shape @octoserve/wire's shard slices have). */
export interface HaloSlice {
  name: string;
  shape: [number, number];
  data: Float32Array;
}

/** The K-split weights of layer `l`: name, global K, and the rank's K-slice. */
export function kSplitWeights(config: ModelConfig, split: KSplit, l: number): { name: string; k: number; slice: ColumnRange }[] {
  const hd = config.headDim;
  return [
    { name: `layers.${l}.wo`, k: config.qDim, slice: { start: split.heads.start * hd, end: split.heads.end * hd } },
    { name: `layers.${l}.w2`, k: config.hiddenDim, slice: split.hidden },
  ];
}

/**
 * The columns a rank needs beside its K-slices of wo and w2 to quantize them in the global blocks
 * (so every tp dequantizes to the same weights): `{name}.halo` [dim, left + right], per row the
 * columns from the block start up to the slice, then from the slice's end to the block end.
 * Slices needing none, and those of weights the checkpoint stores block-quantized, are not yielded.
 */
export function* quantizationHaloSlices(
  ckpt: { readonly config: ModelConfig; readBlock(name: string, r0: number, r1: number, c0: number, c1: number): Float32Array; quantizedBits?(name: string): 4 | 8 | undefined },
  split: KSplit,
): Generator<HaloSlice> {
  const { dim } = ckpt.config;
  for (let l = 0; l < ckpt.config.nLayers; l++) {
    for (const { name, k, slice } of kSplitWeights(ckpt.config, split, l)) {
      const wide = blockAlignedRange(slice, k);
      const left = slice.start - wide.start;
      const right = wide.end - slice.end;
      // none for a weight stored block-quantized: its slice comes in whole blocks, as stored
      if (left + right === 0 || ckpt.quantizedBits?.(name) !== undefined) continue;
      const a = ckpt.readBlock(name, 0, dim, wide.start, slice.start);
      const b = ckpt.readBlock(name, 0, dim, slice.end, wide.end);
      const data = new Float32Array(dim * (left + right));
      for (let r = 0; r < dim; r++) {
        data.set(a.subarray(r * left, (r + 1) * left), r * (left + right));
        data.set(b.subarray(r * right, (r + 1) * right), r * (left + right) + left);
      }
      yield { name: `${name}.halo`, shape: [dim, left + right], data };
    }
  }
}
