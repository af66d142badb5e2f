// Writing any checkpoint as a `llama` GGUF, its matrices as F32, F16, BF16, Q8_0 or Q4_0.
import type { Checkpoint } from './checkpoint.js';
import { ggufTensorName } from './checkpoint-gguf.js';
import { encodeTensor } from './dtype.js';
import { ModelError } from './errors.js';
import { GGUF_DEFAULT_ALIGNMENT, GGUF_FILE_TYPE, type GgmlType, type GgufEntry } from './gguf-format.js';
import { fitsType, quantizeGgmlRow } from './gguf-quant.js';
import { vocabMetadata } from './gguf-tokenizer.js';
import { gguf, writeGgufFile, type GgufWriteTensor } from './gguf-write.js';
import { permuteRopeRows } from './rope.js';
import { matrixShape } from './tensor-file.js';
import type { Llama2cVocab } from './tokenizer-llama2c.js';

export interface WriteGgufOptions {
  /** Element type of the matrices (default F32). Norms stay F32, as llama.cpp keeps them. */
  type?: GgmlType;
  /** The SentencePiece vocabulary to embed (tokenizer.ggml.*); without it the file has no tokenizer. */
  vocab?: Llama2cVocab;
  /** general.name. */
  name?: string;
}

/** `data` (rows x cols, row-major) encoded as `type`. */
export function encodeGgml(data: Float32Array, type: GgmlType, cols: number): Uint8Array {
  if (type === 'F32' || type === 'F16' || type === 'BF16') return encodeTensor(data, type);
  const rows = data.length / cols;
  const parts: Uint8Array[] = [];
  for (let r = 0; r < rows; r++) parts.push(quantizeGgmlRow(type, data.subarray(r * cols, (r + 1) * cols)));
  return Buffer.concat(parts);
}

/** The llama.* and general.* metadata of `ckpt`'s config. */
function modelMetadata(ckpt: Checkpoint, type: GgmlType, name: string): [string, GgufEntry][] {
  const c = ckpt.config;
  if (c.ropeScaling?.type === 'llama3') throw new ModelError(`${ckpt.path}: Llama 3.1 RoPE scaling cannot be stored in a GGUF by octoserve`);
  const entries: [string, GgufEntry][] = [
    ['general.architecture', gguf.str('llama')],
    ['general.name', gguf.str(name)],
    ['general.alignment', gguf.u32(GGUF_DEFAULT_ALIGNMENT)],
    ['general.file_type', gguf.u32(GGUF_FILE_TYPE[type])],
    ['llama.context_length', gguf.u32(c.maxSeqLen)],
    ['llama.embedding_length', gguf.u32(c.dim)],
    ['llama.block_count', gguf.u32(c.nLayers)],
    ['llama.feed_forward_length', gguf.u32(c.hiddenDim)],
    ['llama.attention.head_count', gguf.u32(c.nHeads)],
    ['llama.attention.head_count_kv', gguf.u32(c.nKvHeads)],
    ['llama.attention.key_length', gguf.u32(c.headDim)],
    ['llama.attention.value_length', gguf.u32(c.headDim)],
    ['llama.attention.layer_norm_rms_epsilon', gguf.f32(c.normEps)],
    ['llama.rope.dimension_count', gguf.u32(c.headDim)],
    ['llama.rope.freq_base', gguf.f32(c.ropeTheta)],
    ['llama.vocab_size', gguf.u32(c.vocabSize)],
  ];
  if (c.ropeScaling?.type === 'linear') {
    entries.push(['llama.rope.scaling.type', gguf.str('linear')], ['llama.rope.scaling.factor', gguf.f32(c.ropeScaling.factor)]);
  }
  return entries;
}

/**
 * Writes `ckpt` as a GGUF file, tensor by tensor, with wq/wk rows in the interleaved RoPE layout
 * llama.cpp expects. A matrix whose rows are not whole 32-element blocks stays F32 under Q8_0/Q4_0.
 */
export function writeGguf(path: string, ckpt: Checkpoint, options: WriteGgufOptions = {}): void {
  const c = ckpt.config;
  const type = options.type ?? 'F32';
  const metadata = new Map<string, GgufEntry>(modelMetadata(ckpt, type, options.name ?? 'octoserve'));
  if (options.vocab !== undefined) {
    if (options.vocab.pieces.length !== c.vocabSize) {
      throw new ModelError(`${path}: the tokenizer has ${options.vocab.pieces.length} tokens, the model's vocab size is ${c.vocabSize}`);
    }
    for (const [k, v] of vocabMetadata(options.vocab, c.bosId, c.eosIds[0] ?? 2)) metadata.set(k, v);
  }
  const names = ckpt.tensorNames().filter((n) => !(n === 'output' && c.sharedClassifier));
  const tensors: GgufWriteTensor[] = names.map((name) => {
    const shape = ckpt.tensorInfo(name).shape;
    const [, cols] = matrixShape(shape);
    const t: GgmlType = shape.length === 1 || !fitsType(type, cols) ? 'F32' : type;
    return {
      name: ggufTensorName(name),
      dims: [...shape].reverse(),
      type: t,
      data: () => {
        let w = ckpt.read(name);
        if (name.endsWith('.wq')) w = permuteRopeRows(w, c.nHeads, c.headDim, c.dim, c.ropeLayout, 'interleaved');
        if (name.endsWith('.wk')) w = permuteRopeRows(w, c.nKvHeads, c.headDim, c.dim, c.ropeLayout, 'interleaved');
        return encodeGgml(w, t, cols);
      },
    };
  });
  writeGgufFile(path, metadata, tensors);
}
