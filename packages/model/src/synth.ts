// Seeded random-weight models of named shapes, for tests and benchmarks without real weights.
// Tensors are generated on demand from (seed, tensor name), so nothing large stays in memory.
import { canonicalTensorNames, expectedShape, type Checkpoint, type TensorInfo } from './checkpoint.js';
import { resolveConfig, type ModelConfig, type ModelParams } from './config.js';
import { ModelError } from './errors.js';
import { Rng } from './random.js';
import { matrixShape } from './tensor-file.js';

/** Ids below this are <unk>, BOS, EOS and the 256 byte pieces in a llama2.c vocabulary. */
const BYTE_FALLBACK_END = 259;

export type SynthShape = 'tiny' | 'gqa' | 'stories15m' | 'stories110m';

export const SYNTH_SHAPES: Readonly<Record<SynthShape, ModelParams>> = {
  // small and fast; the stories260K shape with 3 layers
  tiny: { dim: 64, hiddenDim: 172, nLayers: 3, nHeads: 8, nKvHeads: 4, vocabSize: 512, maxSeqLen: 256 },
  // 4 query heads per KV head, and an unshared classifier
  gqa: { dim: 256, hiddenDim: 688, nLayers: 2, nHeads: 8, nKvHeads: 2, vocabSize: 512, maxSeqLen: 256, sharedClassifier: false },
  stories15m: { dim: 288, hiddenDim: 768, nLayers: 6, nHeads: 6, nKvHeads: 6, vocabSize: 32000, maxSeqLen: 256 },
  stories110m: { dim: 768, hiddenDim: 2048, nLayers: 12, nHeads: 12, nKvHeads: 12, vocabSize: 32000, maxSeqLen: 1024 },
};

export function isSynthShape(s: string): s is SynthShape {
  return Object.hasOwn(SYNTH_SHAPES, s);
}

export function synthConfig(shape: SynthShape): ModelConfig {
  return resolveConfig(SYNTH_SHAPES[shape]);
}

/**
 * A checkpoint of random weights: norms near 1, every matrix uniform with standard deviation
 * 1/sqrt(in_features), so activations keep their scale and greedy text does not collapse.
 * RoPE layout: interleaved (as llama2.c).
 */
export class SynthCheckpoint implements Checkpoint {
  readonly format = 'synth';
  readonly path: string;

  constructor(readonly config: ModelConfig, readonly seed = 0, label = 'custom') {
    this.path = `synthetic ${label} model (seed ${seed})`;
  }

  static ofShape(shape: SynthShape, seed = 0): SynthCheckpoint {
    return new SynthCheckpoint(synthConfig(shape), seed, shape);
  }

  tensorNames(): string[] {
    return canonicalTensorNames(this.config);
  }

  tensorInfo(name: string): TensorInfo {
    return { shape: expectedShape(this.config, name), dtype: 'F32' };
  }

  read(name: string): Float32Array {
    const resolved = name === 'output' && this.config.sharedClassifier ? 'tok_embeddings' : name;
    const shape = expectedShape(this.config, resolved);
    const [rows, cols] = matrixShape(shape);
    const rng = new Rng(this.seed, resolved);
    const out = new Float32Array(rows * cols);
    if (shape.length === 1) {
      for (let i = 0; i < out.length; i++) out[i] = 0.9 + 0.2 * rng.nextFloat(); // norm weights in [0.9, 1.1)
    } else {
      const half = Math.sqrt(3 / cols); // uniform(-h, h) has std h/sqrt(3) = 1/sqrt(cols)
      for (let i = 0; i < out.length; i++) out[i] = (2 * rng.nextFloat() - 1) * half;
      if (resolved === 'tok_embeddings' || resolved === 'output') {
        // special and byte-fallback ids (0..258 in llama2.c vocabularies) get small rows, so that
        // random text is made of word pieces rather than stray bytes
        const small = Math.min(rows, BYTE_FALLBACK_END) * cols;
        for (let i = 0; i < small; i++) out[i] = out[i]! * 0.1;
      }
    }
    return out;
  }

  readBlock(name: string, rowStart: number, rowEnd: number, colStart: number, colEnd: number): Float32Array {
    const [rows, cols] = matrixShape(this.tensorInfo(name).shape);
    if (rowStart < 0 || rowEnd > rows || rowStart > rowEnd || colStart < 0 || colEnd > cols || colStart > colEnd) {
      throw new ModelError(`${name}: block rows [${rowStart}, ${rowEnd}) cols [${colStart}, ${colEnd}) is outside its shape [${rows}, ${cols}]`);
    }
    const all = this.read(name);
    const width = colEnd - colStart;
    const out = new Float32Array((rowEnd - rowStart) * width);
    for (let r = rowStart; r < rowEnd; r++) {
      out.set(all.subarray(r * cols + colStart, r * cols + colEnd), (r - rowStart) * width);
    }
    return out;
  }

  close(): void {
    // nothing is open
  }
}
