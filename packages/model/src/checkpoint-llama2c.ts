// llama2.c checkpoints (.bin): the legacy layout (7 int32 header) and version 1 (magic "ak42", float32).
//
// Legacy: int32 dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len, then float32
// arrays back to back: tok_embeddings, attention_norm[L], wq[L], wk[L], wv[L], wo[L], ffn_norm[L],
// w1[L], w2[L], w3[L], norm, freq_cis_real [seq_len, headDim/2], freq_cis_imag (both unused), and,
// when vocab_size < 0, an unshared classifier output [|vocab_size|, dim].
// Version 1: a 256-byte header (uint32 magic 0x616b3432, int32 version, the 7 ints, uint8 shared
// classifier), then attention_norm[L], ffn_norm[L], norm, tok_embeddings, wq[L] ... w3[L], output.
// Weights use the interleaved RoPE layout; eps 1e-5 and theta 10000 are fixed by the format.
import { closeSync, openSync } from 'node:fs';
import { FileCheckpoint, layerTensorName, type Checkpoint, type LayerTensor } from './checkpoint.js';
import { resolveConfig, type ModelConfig } from './config.js';
import { ModelError } from './errors.js';
import { permuteRopeRows, ropeFrequencies } from './rope.js';
import { elementCount, OpenFile, writeAll, type TensorLocation } from './tensor-file.js';

const MAGIC = 0x616b3432;
const LEGACY_HEADER_BYTES = 28;
const V1_HEADER_BYTES = 256;

/** Which tensors follow each other in a file, with their shapes. */
type Layout = { name: string; shape: number[] }[];

function stacked(config: ModelConfig, tensor: LayerTensor, shape: number[]): Layout {
  return Array.from({ length: config.nLayers }, (_, l) => ({ name: layerTensorName(l, tensor), shape }));
}

function legacyLayout(c: ModelConfig): Layout {
  return [
    { name: 'tok_embeddings', shape: [c.vocabSize, c.dim] },
    ...stacked(c, 'attention_norm', [c.dim]),
    ...stacked(c, 'wq', [c.qDim, c.dim]),
    ...stacked(c, 'wk', [c.kvDim, c.dim]),
    ...stacked(c, 'wv', [c.kvDim, c.dim]),
    ...stacked(c, 'wo', [c.dim, c.qDim]),
    ...stacked(c, 'ffn_norm', [c.dim]),
    ...stacked(c, 'w1', [c.hiddenDim, c.dim]),
    ...stacked(c, 'w2', [c.dim, c.hiddenDim]),
    ...stacked(c, 'w3', [c.hiddenDim, c.dim]),
    { name: 'norm', shape: [c.dim] },
    { name: 'freq_cis_real', shape: [c.maxSeqLen, c.headDim / 2] },
    { name: 'freq_cis_imag', shape: [c.maxSeqLen, c.headDim / 2] },
    ...(c.sharedClassifier ? [] : [{ name: 'output', shape: [c.vocabSize, c.dim] }]),
  ];
}

function v1Layout(c: ModelConfig): Layout {
  return [
    ...stacked(c, 'attention_norm', [c.dim]),
    ...stacked(c, 'ffn_norm', [c.dim]),
    { name: 'norm', shape: [c.dim] },
    { name: 'tok_embeddings', shape: [c.vocabSize, c.dim] },
    ...stacked(c, 'wq', [c.qDim, c.dim]),
    ...stacked(c, 'wk', [c.kvDim, c.dim]),
    ...stacked(c, 'wv', [c.kvDim, c.dim]),
    ...stacked(c, 'wo', [c.dim, c.qDim]),
    ...stacked(c, 'w1', [c.hiddenDim, c.dim]),
    ...stacked(c, 'w2', [c.dim, c.hiddenDim]),
    ...stacked(c, 'w3', [c.hiddenDim, c.dim]),
    ...(c.sharedClassifier ? [] : [{ name: 'output', shape: [c.vocabSize, c.dim] }]),
  ];
}

function headerConfig(path: string, ints: Int32Array, sharedClassifier: boolean | null): ModelConfig {
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, vocab, seqLen] = Array.from(ints);
  const header = `dim ${dim}, hidden_dim ${hiddenDim}, n_layers ${nLayers}, n_heads ${nHeads}, ` +
    `n_kv_heads ${nKvHeads}, vocab_size ${vocab}, seq_len ${seqLen}`;
  try {
    return resolveConfig({
      dim: dim!, hiddenDim: hiddenDim!, nLayers: nLayers!, nHeads: nHeads!, nKvHeads: nKvHeads!,
      vocabSize: Math.abs(vocab!), maxSeqLen: seqLen!,
      sharedClassifier: sharedClassifier ?? vocab! > 0,
      ropeLayout: 'interleaved', normEps: 1e-5, ropeTheta: 10000, bosId: 1, eosIds: [2],
    });
  } catch (err) {
    if (!(err instanceof ModelError)) throw err;
    throw new ModelError(`${path}: not a llama2.c checkpoint, its header reads ${header} (${err.message})`);
  }
}

/** Opens a llama2.c .bin; tensors are read on demand. */
export function openLlama2c(path: string): Checkpoint {
  const file = new OpenFile(path);
  try {
    if (file.size < LEGACY_HEADER_BYTES) {
      throw new ModelError(`${path}: truncated llama2.c checkpoint: ${file.size} bytes, shorter than its ${LEGACY_HEADER_BYTES}-byte header`);
    }
    const head = new Uint8Array(Math.min(file.size, V1_HEADER_BYTES));
    file.readExactly(head, 0, 'header');
    const view = new DataView(head.buffer);
    let config: ModelConfig;
    let layout: Layout;
    let dataStart: number;
    if (view.getUint32(0, true) === MAGIC) {
      const version = head.length >= 8 ? view.getInt32(4, true) : -1;
      if (version === 2) {
        throw new ModelError(`${path}: llama2.c version 2 (int8 Q8_0) checkpoints are not supported; export float32 (version 1 or the legacy layout)`);
      }
      if (version !== 1 || head.length < V1_HEADER_BYTES) {
        throw new ModelError(`${path}: llama2.c checkpoint with magic "ak42" has version ${version} (or a short header); only version 1 is supported`);
      }
      config = headerConfig(path, new Int32Array(head.buffer.slice(8, 36)), head[36] === 1);
      layout = v1Layout(config);
      dataStart = V1_HEADER_BYTES;
    } else {
      config = headerConfig(path, new Int32Array(head.buffer.slice(0, LEGACY_HEADER_BYTES)), null);
      layout = legacyLayout(config);
      dataStart = LEGACY_HEADER_BYTES;
    }
    const table = new Map<string, TensorLocation>();
    let offset = dataStart;
    for (const { name, shape } of layout) {
      table.set(name, { file, offset, dtype: 'F32', shape, sourceName: name });
      offset += elementCount(shape) * 4;
    }
    if (file.size !== offset) {
      const header = `dim ${config.dim}, hidden_dim ${config.hiddenDim}, n_layers ${config.nLayers}, n_heads ${config.nHeads}, ` +
        `n_kv_heads ${config.nKvHeads}, vocab_size ${config.sharedClassifier ? '' : '-'}${config.vocabSize}, seq_len ${config.maxSeqLen}`;
      const what = file.size < offset ? 'truncated' : 'longer than its header implies';
      throw new ModelError(`${path}: ${what} llama2.c checkpoint: the header (${header}) implies ${offset} bytes, the file has ${file.size}`);
    }
    if (config.sharedClassifier) table.set('output', table.get('tok_embeddings')!);
    return new FileCheckpoint(config, 'llama2c', path, table, [file]);
  } catch (err) {
    file.close();
    throw err;
  }
}

/** Refuses configs the llama2.c format cannot state. */
function checkLlama2cConfig(c: ModelConfig, path: string): void {
  const problems: string[] = [];
  if (c.normEps !== 1e-5) problems.push(`normEps ${c.normEps} (the format fixes 1e-5)`);
  if (c.ropeTheta !== 10000) problems.push(`ropeTheta ${c.ropeTheta} (the format fixes 10000)`);
  if (c.ropeScaling !== null) problems.push(`rope scaling '${c.ropeScaling.type}'`);
  if (c.qDim !== c.dim) problems.push(`headDim ${c.headDim} with nHeads ${c.nHeads} and dim ${c.dim} (the format needs headDim = dim / nHeads)`);
  if (problems.length > 0) throw new ModelError(`${path}: cannot store in a llama2.c checkpoint: ${problems.join('; ')}`);
}

export interface WriteLlama2cOptions {
  /** 0: the legacy layout (default); 1: the version-1 float32 layout. */
  version?: 0 | 1;
}

/** Writes `ckpt` as a llama2.c .bin, tensor by tensor, permuting wq/wk to the interleaved RoPE layout. */
export function writeLlama2c(path: string, ckpt: Checkpoint, options: WriteLlama2cOptions = {}): void {
  const c = ckpt.config;
  checkLlama2cConfig(c, path);
  const version = options.version ?? 0;
  const fd = openSync(path, 'w');
  try {
    let header: Uint8Array;
    const params = [c.dim, c.hiddenDim, c.nLayers, c.nHeads, c.nKvHeads, c.vocabSize, c.maxSeqLen];
    if (version === 0) {
      params[5] = c.sharedClassifier ? c.vocabSize : -c.vocabSize;
      header = new Uint8Array(new Int32Array(params).buffer);
    } else {
      header = new Uint8Array(V1_HEADER_BYTES);
      const view = new DataView(header.buffer);
      view.setUint32(0, MAGIC, true);
      view.setInt32(4, 1, true);
      params.forEach((v, i) => view.setInt32(8 + 4 * i, v, true));
      header[36] = c.sharedClassifier ? 1 : 0;
    }
    writeAll(fd, header);
    const freqs = ropeFrequencies(c.headDim, c.ropeTheta, null);
    for (const { name, shape } of version === 0 ? legacyLayout(c) : v1Layout(c)) {
      let data: Float32Array;
      if (name === 'freq_cis_real' || name === 'freq_cis_imag') {
        data = new Float32Array(elementCount(shape)); // [seq_len, headDim/2]
        const half = c.headDim / 2;
        for (let pos = 0; pos < c.maxSeqLen; pos++) {
          for (let i = 0; i < half; i++) {
            const angle = Math.fround(pos * freqs[i]!);
            data[pos * half + i] = name === 'freq_cis_real' ? Math.cos(angle) : Math.sin(angle);
          }
        }
      } else {
        data = ckpt.read(name);
        if (name.endsWith('.wq')) data = permuteRopeRows(data, c.nHeads, c.headDim, c.dim, c.ropeLayout, 'interleaved');
        if (name.endsWith('.wk')) data = permuteRopeRows(data, c.nKvHeads, c.headDim, c.dim, c.ropeLayout, 'interleaved');
      }
      writeAll(fd, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    }
  } finally {
    closeSync(fd);
  }
}
