// All weights of a model in memory, as float32 arrays, loaded from a checkpoint by canonical name.
import { layerTensorName, type Checkpoint } from './checkpoint.js';
import type { ModelConfig } from './config.js';
import { dequantizeInPlace, layerMatrixShape, weightBits, type WeightFormat } from './quantize.js';

export interface LayerWeights {
  readonly attentionNorm: Float32Array; // [dim]
  readonly wq: Float32Array; // [nHeads * headDim, dim]
  readonly wk: Float32Array; // [nKvHeads * headDim, dim]
  readonly wv: Float32Array; // [nKvHeads * headDim, dim]
  readonly wo: Float32Array; // [dim, nHeads * headDim]
  readonly ffnNorm: Float32Array; // [dim]
  readonly w1: Float32Array; // [hiddenDim, dim]
  readonly w2: Float32Array; // [dim, hiddenDim]
  readonly w3: Float32Array; // [hiddenDim, dim]
}

export interface TransformerWeights {
  readonly config: ModelConfig;
  readonly tokEmbeddings: Float32Array; // [vocabSize, dim]
  readonly layers: readonly LayerWeights[];
  readonly norm: Float32Array; // [dim]
  readonly output: Float32Array; // [vocabSize, dim]; the tokEmbeddings array itself when shared
}

export interface LoadWeightsOptions {
  /**
   * 'q8' / 'q4': every matmul weight (wq, wk, wv, wo, w1, w2, w3, the LM head) is block-quantized
   * and dequantized as the tensor-parallel workers quantize it (quantize.ts), so this engine runs
   * the very weights a cluster with --weights q8|q4 runs, at every tp. Embeddings stay as read.
   */
  weights?: WeightFormat;
}

export function loadWeights(ckpt: Checkpoint, opts: LoadWeightsOptions = {}): TransformerWeights {
  const config = ckpt.config;
  const format = opts.weights ?? 'f32';
  const layers: LayerWeights[] = [];
  /**
   * A matmul weight as the chosen format holds it; one the checkpoint stores block-quantized (GGUF
   * Q8_0 / Q4_0) stays as stored, which is what the workers multiply by whatever the format.
   */
  const matrix = (name: string, data: Float32Array, [rows, cols]: readonly [number, number]): Float32Array =>
    format === 'f32' || ckpt.quantizedBits?.(name) !== undefined ? data : dequantizeInPlace(data, rows, cols, weightBits(format));
  for (let l = 0; l < config.nLayers; l++) {
    const read = (t: Parameters<typeof layerTensorName>[1]): Float32Array => {
      const data = ckpt.read(layerTensorName(l, t));
      return t === 'attention_norm' || t === 'ffn_norm' ? data : matrix(layerTensorName(l, t), data, layerMatrixShape(config, t));
    };
    layers.push({
      attentionNorm: read('attention_norm'),
      wq: read('wq'),
      wk: read('wk'),
      wv: read('wv'),
      wo: read('wo'),
      ffnNorm: read('ffn_norm'),
      w1: read('w1'),
      w2: read('w2'),
      w3: read('w3'),
    });
  }
  const tokEmbeddings = ckpt.read('tok_embeddings');
  return {
    config,
    tokEmbeddings,
    layers,
    norm: ckpt.read('norm'),
    output: format === 'f32' && config.sharedClassifier ? tokEmbeddings : matrix('output', ckpt.read('output'), [config.vocabSize, config.dim]),
  };
}
