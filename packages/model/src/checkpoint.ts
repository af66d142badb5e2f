// The checkpoint abstraction: tensors by canonical name, read lazily and by block, so that a
// tensor-parallel worker reads only its own rows or columns.
//
// Canonical names and shapes (matrices row-major as (out, in); a projection is out = W · x):
//   tok_embeddings              [vocabSize, dim]
//   layers.{l}.attention_norm   [dim]
//   layers.{l}.wq               [nHeads * headDim, dim]
//   layers.{l}.wk               [nKvHeads * headDim, dim]
//   layers.{l}.wv               [nKvHeads * headDim, dim]
//   layers.{l}.wo               [dim, nHeads * headDim]
//   layers.{l}.ffn_norm         [dim]
//   layers.{l}.w1               [hiddenDim, dim]   (gate)
//   layers.{l}.w2               [dim, hiddenDim]   (down)
//   layers.{l}.w3               [hiddenDim, dim]   (up)
//   norm                        [dim]
//   output                      [vocabSize, dim]   (the same tensor as tok_embeddings when config.sharedClassifier)
// The rows of wq and wk follow config.ropeLayout; a checkpoint never permutes them on read.
import type { QuantizedMatrix } from './quantize.js';
import type { ModelConfig } from './config.js';
import type { DType } from './dtype.js';
import { ModelError } from './errors.js';
import { matrixShape, readTensorBlock, type OpenFile, type TensorLocation } from './tensor-file.js';

export type CheckpointFormat = 'llama2c' | 'hf' | 'gguf' | 'synth';

export interface TensorInfo {
  readonly shape: readonly number[];
  /** The stored type; every read returns float32. */
  readonly dtype: DType;
}

export interface Checkpoint {
  readonly config: ModelConfig;
  readonly format: CheckpointFormat;
  /** The file or directory it was opened from (or a description, for a synthetic one). */
  readonly path: string;
  /** Every canonical name, in the order of the table above. */
  tensorNames(): string[];
  tensorInfo(name: string): TensorInfo;
  /** The whole tensor as float32. */
  read(name: string): Float32Array;
  /** Rows [rowStart, rowEnd) x columns [colStart, colEnd), row-major. A vector is one row. */
  readBlock(name: string, rowStart: number, rowEnd: number, colStart: number, colEnd: number): Float32Array;
  /**
   * Block-quantized storage (GGUF's Q8_0 and Q4_0 hold blocks of 32 along a row, one scale each: the
   * block MatMulNBits multiplies by): the bits of a tensor stored so, undefined for a float one.
   */
  quantizedBits?(name: string): 4 | 8 | undefined;
  /**
   * Rows [rowStart, rowEnd) x columns [colStart, colEnd) of such a tensor as stored, in MatMulNBits'
   * layout (never widened to float32); the columns start and end on block boundaries (or the row's end).
   */
  readQuantizedBlock?(name: string, rowStart: number, rowEnd: number, colStart: number, colEnd: number): QuantizedMatrix;
  close(): void;
}

export type LayerTensor = 'attention_norm' | 'wq' | 'wk' | 'wv' | 'wo' | 'ffn_norm' | 'w1' | 'w2' | 'w3';

export const LAYER_TENSORS: readonly LayerTensor[] = ['attention_norm', 'wq', 'wk', 'wv', 'wo', 'ffn_norm', 'w1', 'w2', 'w3'];

export function layerTensorName(layer: number, tensor: LayerTensor): string {
  return `layers.${layer}.${tensor}`;
}

export function canonicalTensorNames(config: ModelConfig): string[] {
  const names = ['tok_embeddings'];
  for (let l = 0; l < config.nLayers; l++) for (const t of LAYER_TENSORS) names.push(layerTensorName(l, t));
  names.push('norm', 'output');
  return names;
}

/** The shape `config` implies for canonical tensor `name`. */
export function expectedShape(config: ModelConfig, name: string): number[] {
  const { dim, hiddenDim, qDim, kvDim, vocabSize } = config;
  if (name === 'tok_embeddings' || name === 'output') return [vocabSize, dim];
  if (name === 'norm') return [dim];
  const m = /^layers\.(\d+)\.(\w+)$/.exec(name);
  if (m !== null && Number(m[1]) < config.nLayers) {
    switch (m[2]) {
      case 'attention_norm': case 'ffn_norm': return [dim];
      case 'wq': return [qDim, dim];
      case 'wk': case 'wv': return [kvDim, dim];
      case 'wo': return [dim, qDim];
      case 'w1': case 'w3': return [hiddenDim, dim];
      case 'w2': return [dim, hiddenDim];
    }
  }
  throw new ModelError(`no tensor named '${name}' in a ${config.nLayers}-layer model`);
}

/** Throws a ModelError naming the tensor when a stored shape disagrees with the config. */
export function checkShape(config: ModelConfig, name: string, actual: readonly number[], where: string, configName = 'the config'): void {
  const expected = expectedShape(config, name);
  if (expected.length !== actual.length || expected.some((d, i) => d !== actual[i])) {
    throw new ModelError(
      `${where}: tensor ${name} has shape [${actual.join(', ')}] but ${configName} implies [${expected.join(', ')}] ` +
      `(dim ${config.dim}, hiddenDim ${config.hiddenDim}, nHeads ${config.nHeads}, nKvHeads ${config.nKvHeads}, ` +
      `headDim ${config.headDim}, vocabSize ${config.vocabSize})`,
    );
  }
}

/** A checkpoint whose tensors sit at known offsets in one or more open files. */
export class FileCheckpoint implements Checkpoint {
  constructor(
    readonly config: ModelConfig,
    readonly format: CheckpointFormat,
    readonly path: string,
    private readonly table: ReadonlyMap<string, TensorLocation>,
    private readonly files: readonly OpenFile[],
    /** What the config came from, for messages (e.g. the config.json path). */
    configName = 'the config',
  ) {
    for (const name of canonicalTensorNames(config)) {
      const loc = table.get(name);
      if (loc === undefined) throw new ModelError(`${path}: missing tensor ${name}`);
      checkShape(config, name, loc.shape, `${loc.file.path} (${loc.sourceName})`, configName);
    }
  }

  tensorNames(): string[] {
    return canonicalTensorNames(this.config);
  }

  private location(name: string): TensorLocation {
    const loc = this.table.get(name);
    if (loc === undefined) throw new ModelError(`${this.path}: no tensor named '${name}'`);
    return loc;
  }

  tensorInfo(name: string): TensorInfo {
    const loc = this.location(name);
    return { shape: loc.shape, dtype: loc.dtype };
  }

  read(name: string): Float32Array {
    const [rows, cols] = matrixShape(this.location(name).shape);
    return this.readBlock(name, 0, rows, 0, cols);
  }

  readBlock(name: string, rowStart: number, rowEnd: number, colStart: number, colEnd: number): Float32Array {
    return readTensorBlock(this.location(name), name, rowStart, rowEnd, colStart, colEnd);
  }

  close(): void {
    for (const f of this.files) f.close();
  }
}
