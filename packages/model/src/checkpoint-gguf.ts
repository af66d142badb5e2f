// GGUF checkpoints of the `llama` architecture (llama.cpp's format), read by block like the others.
//
// llama.cpp's converter permutes HF's wq/wk rows so that RoPE rotates adjacent pairs (2i, 2i+1), its
// "normal" rope for llama: the interleaved layout of llama2.c and Meta's checkpoints. A GGUF is
// therefore opened with ropeLayout 'interleaved' and its rows are used as stored; writing one from a
// rotate-half (HF) checkpoint permutes them back the way the converter does.
import { canonicalTensorNames, checkShape, type Checkpoint, type LayerTensor, type TensorInfo } from './checkpoint.js';
import { resolveConfig, type ModelConfig } from './config.js';
import type { DType } from './dtype.js';
import { ModelError } from './errors.js';
import { GGML_BLOCK, GGML_TYPES, ggmlTypeName, type GgmlType, type GgufEntry } from './gguf-format.js';
import { dequantizeGgmlRow, ggmlRowToNBits, QK } from './gguf-quant.js';
import type { QuantizedMatrix } from './quantize.js';
import { readGgufHeader, type GgufHeader, type GgufTensor } from './gguf-read.js';
import { ggufSpecialIds, ggufTokenCount, ggufTokenizer } from './gguf-tokenizer.js';
import type { Llama2cTokenizer } from './tokenizer-llama2c.js';
import { matrixShape, OpenFile, readTensorBlock, type TensorLocation } from './tensor-file.js';

const GGUF_LAYER_NAMES: Record<LayerTensor, string> = {
  attention_norm: 'attn_norm', wq: 'attn_q', wk: 'attn_k', wv: 'attn_v', wo: 'attn_output',
  ffn_norm: 'ffn_norm', w1: 'ffn_gate', w2: 'ffn_down', w3: 'ffn_up',
};

/** The GGUF name of canonical tensor `name`. */
export function ggufTensorName(name: string): string {
  if (name === 'tok_embeddings') return 'token_embd.weight';
  if (name === 'norm') return 'output_norm.weight';
  if (name === 'output') return 'output.weight';
  const m = /^layers\.(\d+)\.(\w+)$/.exec(name);
  const suffix = m === null ? undefined : GGUF_LAYER_NAMES[m[2] as LayerTensor];
  if (m === null || suffix === undefined) throw new ModelError(`no GGUF name for tensor '${name}'`);
  return `blk.${m[1]}.${suffix}.weight`;
}

/** A GGUF tensor as the canonical tensor it stands for. */
interface Entry {
  readonly tensor: GgufTensor;
  readonly type: GgmlType;
  readonly rows: number;
  readonly cols: number;
  readonly shape: readonly number[];
}

/** The model config the `llama.*` metadata states. */
export function ggufConfig(header: GgufHeader): ModelConfig {
  const { metadata, file } = header;
  const path = file.path;
  const arch = metadata.get('general.architecture')?.value;
  if (arch !== 'llama') {
    throw new ModelError(`${path}: GGUF architecture ${JSON.stringify(arch ?? null)} is not supported (only 'llama')`);
  }
  const num = (key: string, fallback?: number): number => {
    const v = metadata.get(key)?.value;
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'number' && typeof v !== 'bigint') {
      throw new ModelError(`${path}: GGUF metadata ${key} is ${v === undefined ? 'missing' : `not a number (${String(v)})`}`);
    }
    return Number(v);
  };
  const dim = num('llama.embedding_length');
  const nHeads = num('llama.attention.head_count');
  const headDim = num('llama.attention.key_length', dim / nHeads);
  const ropeDims = num('llama.rope.dimension_count', headDim);
  if (ropeDims !== headDim) throw new ModelError(`${path}: llama.rope.dimension_count ${ropeDims} differs from the head size ${headDim}; partial RoPE is not supported`);
  if (header.tensors.has('rope_freqs.weight')) {
    throw new ModelError(`${path}: per-frequency RoPE factors (rope_freqs.weight, Llama 3.1 scaling) are not supported`);
  }
  const scaling = metadata.get('llama.rope.scaling.type')?.value ?? 'none';
  if (scaling !== 'none' && scaling !== 'linear') throw new ModelError(`${path}: RoPE scaling '${String(scaling)}' is not supported (none, linear)`);
  const factor = num('llama.rope.scaling.factor', 1);
  const vocabSize = ggufTokenCount(metadata, path) ?? num('llama.vocab_size', header.tensors.get('token_embd.weight')?.dims[1] ?? 0);
  const { bosId, eosId } = ggufSpecialIds(metadata);
  try {
    return resolveConfig({
      dim, nHeads, headDim,
      hiddenDim: num('llama.feed_forward_length'),
      nLayers: num('llama.block_count'),
      nKvHeads: num('llama.attention.head_count_kv', nHeads),
      vocabSize,
      maxSeqLen: num('llama.context_length'),
      normEps: num('llama.attention.layer_norm_rms_epsilon', 1e-5),
      ropeTheta: num('llama.rope.freq_base', 10000),
      ropeScaling: scaling === 'linear' && factor !== 1 ? { type: 'linear', factor } : null,
      ropeLayout: 'interleaved',
      sharedClassifier: !header.tensors.has('output.weight'),
      bosId,
      eosIds: [eosId],
    });
  } catch (err) {
    if (!(err instanceof ModelError)) throw err;
    throw new ModelError(`${path}: unusable llama.* metadata: ${err.message}`);
  }
}

export class GgufCheckpoint implements Checkpoint {
  readonly format = 'gguf' as const;
  readonly path: string;
  readonly config: ModelConfig;
  readonly metadata: ReadonlyMap<string, GgufEntry>;
  private readonly table = new Map<string, Entry>();

  constructor(private readonly header: GgufHeader) {
    this.path = header.file.path;
    this.metadata = header.metadata;
    this.config = ggufConfig(header);
    const names = this.tensorNames();
    for (const name of names) {
      const ggufName = ggufTensorName(name === 'output' && this.config.sharedClassifier ? 'tok_embeddings' : name);
      const tensor = header.tensors.get(ggufName);
      if (tensor === undefined) throw new ModelError(`${this.path}: missing GGUF tensor ${ggufName}`);
      if (tensor.type === undefined) {
        throw new ModelError(
          `${this.path}: tensor ${ggufName} has type ${ggmlTypeName(tensor.typeId)}, which octoserve does not read ` +
          `(supported: ${GGML_TYPES.join(', ')}); use a Q8_0, Q4_0 or F16 GGUF of the model instead`,
        );
      }
      const shape = [...tensor.dims].reverse();
      checkShape(this.config, name, shape, `${this.path} (${ggufName})`, 'the GGUF metadata');
      const [rows, cols] = matrixShape(shape);
      this.table.set(name, { tensor, type: tensor.type, rows, cols, shape });
    }
  }

  tensorNames(): string[] {
    return canonicalTensorNames(this.config);
  }

  private entry(name: string): Entry {
    const e = this.table.get(name);
    if (e === undefined) throw new ModelError(`${this.path}: no tensor named '${name}'`);
    return e;
  }

  /**
   * `dtype` is the stored type for F32, F16 and BF16; Q8_0 and Q4_0, which DType cannot name, report
   * F32 (what their reads return) and are named by `ggmlType`.
   */
  tensorInfo(name: string): TensorInfo & { ggmlType: GgmlType } {
    const e = this.entry(name);
    const dtype: DType = e.type === 'Q8_0' || e.type === 'Q4_0' ? 'F32' : e.type;
    return { shape: e.shape, dtype, ggmlType: e.type };
  }

  read(name: string): Float32Array {
    const e = this.entry(name);
    return this.readBlock(name, 0, e.rows, 0, e.cols);
  }

  readBlock(name: string, rowStart: number, rowEnd: number, colStart: number, colEnd: number): Float32Array {
    const e = this.entry(name);
    if (e.type !== 'Q8_0' && e.type !== 'Q4_0') {
      const loc: TensorLocation = { file: this.header.file, offset: e.tensor.offset, dtype: e.type, shape: e.shape, sourceName: e.tensor.name };
      return readTensorBlock(loc, name, rowStart, rowEnd, colStart, colEnd);
    }
    if (!(Number.isInteger(rowStart) && Number.isInteger(rowEnd) && Number.isInteger(colStart) && Number.isInteger(colEnd))
      || rowStart < 0 || rowEnd > e.rows || rowStart > rowEnd || colStart < 0 || colEnd > e.cols || colStart > colEnd) {
      throw new ModelError(`${name}: block rows [${rowStart}, ${rowEnd}) cols [${colStart}, ${colEnd}) is outside its shape [${e.rows}, ${e.cols}]`);
    }
    const width = colEnd - colStart;
    const out = new Float32Array((rowEnd - rowStart) * width);
    if (out.length === 0) return out;
    const blockBytes = GGML_BLOCK[e.type].bytes;
    const rowBytes = (e.cols / QK) * blockBytes;
    // the bytes of the blocks that hold [colStart, colEnd), a chunk of rows at a time
    const firstBlock = Math.floor(colStart / QK);
    const spanBytes = (Math.ceil(colEnd / QK) - firstBlock) * blockBytes;
    const rowsPerChunk = Math.max(1, Math.floor((16 << 20) / rowBytes));
    const scratch = new Uint8Array(Math.min(rowsPerChunk, rowEnd - rowStart) * rowBytes);
    for (let r = rowStart; r < rowEnd; r += rowsPerChunk) {
      const n = Math.min(rowsPerChunk, rowEnd - r);
      const bytes = scratch.subarray(0, spanBytes === rowBytes ? n * rowBytes : (n - 1) * rowBytes + spanBytes);
      this.header.file.readExactly(bytes, e.tensor.offset + r * rowBytes + firstBlock * blockBytes, `tensor ${e.tensor.name}`);
      for (let i = 0; i < n; i++) {
        // row i's span starts at i * rowBytes; dequantizeGgmlRow indexes blocks from column 0
        dequantizeGgmlRow(e.type, bytes, i * rowBytes - firstBlock * blockBytes, colStart, colEnd, out, (r - rowStart + i) * width);
      }
    }
    return out;
  }

  quantizedBits(name: string): 4 | 8 | undefined {
    const { type } = this.entry(name);
    return type === 'Q8_0' ? 8 : type === 'Q4_0' ? 4 : undefined;
  }

  readQuantizedBlock(name: string, rowStart: number, rowEnd: number, colStart: number, colEnd: number): QuantizedMatrix {
    const e = this.entry(name);
    if (e.type !== 'Q8_0' && e.type !== 'Q4_0') throw new ModelError(`${this.path}: tensor ${e.tensor.name} is ${e.type}, not block-quantized`);
    const bits = e.type === 'Q8_0' ? 8 : 4;
    if (!(Number.isInteger(rowStart) && Number.isInteger(rowEnd)) || rowStart < 0 || rowEnd > e.rows || rowStart > rowEnd
      || colStart < 0 || colEnd > e.cols || colStart >= colEnd || colStart % QK !== 0 || (colEnd % QK !== 0 && colEnd !== e.cols)) {
      throw new ModelError(`${name}: quantized block rows [${rowStart}, ${rowEnd}) cols [${colStart}, ${colEnd}) is outside its shape [${e.rows}, ${e.cols}] or off its ${QK}-column blocks`);
    }
    const n = rowEnd - rowStart;
    const b0 = colStart / QK;
    const blocks = Math.ceil(colEnd / QK) - b0;
    const blob = (QK * bits) / 8;
    const q: QuantizedMatrix = { bits, n, k: colEnd - colStart, blocks, packed: new Uint8Array(n * blocks * blob), scales: new Float32Array(n * blocks) };
    const blockBytes = GGML_BLOCK[e.type].bytes;
    const rowBytes = (e.cols / QK) * blockBytes;
    const rowsPerChunk = Math.max(1, Math.floor((16 << 20) / rowBytes));
    const scratch = new Uint8Array(Math.min(rowsPerChunk, Math.max(1, n)) * rowBytes);
    for (let r = rowStart; r < rowEnd; r += rowsPerChunk) {
      const m = Math.min(rowsPerChunk, rowEnd - r);
      const bytes = scratch.subarray(0, m * rowBytes);
      this.header.file.readExactly(bytes, e.tensor.offset + r * rowBytes, `tensor ${e.tensor.name}`);
      for (let i = 0; i < m; i++) {
        const row = r - rowStart + i;
        ggmlRowToNBits(e.type, bytes, i * rowBytes, b0, b0 + blocks, q.packed, row * blocks * blob, q.scales, row * blocks);
      }
    }
    return q;
  }

  /** Whether the file carries a tokenizer (tokenizer.ggml.model and its token list). */
  hasTokenizer(): boolean {
    return this.metadata.has('tokenizer.ggml.model');
  }

  /** The tokenizer the file carries (tokenizer.ggml.model 'llama'). */
  tokenizer(): Llama2cTokenizer {
    return ggufTokenizer(this.metadata, this.path);
  }

  close(): void {
    this.header.file.close();
  }
}

/** Opens a GGUF file; tensors are read on demand, block-quantized ones dequantized to float32. */
export function openGguf(path: string): GgufCheckpoint {
  const file = new OpenFile(path);
  try {
    return new GgufCheckpoint(readGgufHeader(file));
  } catch (err) {
    file.close();
    throw err;
  }
}

