// All weights of a model in memory, as float32 arrays, loaded from a checkpoint by canonical name.
import { layerTensorName, type Checkpoint } from './checkpoint.js';
import type { ModelConfig } from './config.js';

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

export function loadWeights(ckpt: Checkpoint): TransformerWeights {
  const config = ckpt.config;
  const layers: LayerWeights[] = [];
  for (let l = 0; l < config.nLayers; l++) {
    const read = (t: Parameters<typeof layerTensorName>[1]): Float32Array => ckpt.read(layerTensorName(l, t));
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
    output: config.sharedClassifier ? tokEmbeddings : ckpt.read('output'),
  };
}
