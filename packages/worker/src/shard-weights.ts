// One rank's weights as a shard holds them: what the loader assembles, quantization rewrites
// and the runtime builds its graphs from.
import type { HeadShardWeights, LayerShardWeights } from './onnx/segments.js';

/**
 * One rank's weights. Of the token embedding it holds its vocabulary rows (`embedding`, float32 as
 * read: the rows of the tokens it chooses itself); the coordinator sends the rows of requested steps.
 */
export interface ShardWeights {
  layers: LayerShardWeights[];
  head: HeadShardWeights;
  vocabRows: number;              // this rank's rows of the LM head
  /** [vocabRows, dim]: with a shared classifier in float32, the same array as head.wcls. */
  embedding: Float32Array;
}
