// Model hyperparameters: one type, with every derived size computed once in resolveConfig().
import { ModelError } from './errors.js';

/**
 * How RoPE pairs the elements of a head:
 * - 'interleaved': adjacent pairs (2i, 2i+1), as llama2.c and Meta's checkpoints;
 * - 'half': (i, i + headDim/2), the "rotate half" layout of HF transformers.
 */
export type RopeLayout = 'interleaved' | 'half';

/** Llama 3.1 frequency scaling (`"rope_type": "llama3"` in config.json). */
export interface Llama3RopeScaling {
  readonly type: 'llama3';
  readonly factor: number;
  readonly lowFreqFactor: number;
  readonly highFreqFactor: number;
  readonly originalMaxPositionEmbeddings: number;
}

/** Linear position interpolation (`"rope_type": "linear"`): every frequency divided by `factor`. */
export interface LinearRopeScaling {
  readonly type: 'linear';
  readonly factor: number;
}

export type RopeScaling = Llama3RopeScaling | LinearRopeScaling;

/** What a checkpoint states; resolveConfig() fills defaults and derives the rest. */
export interface ModelParams {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  /** Defaults to nHeads (no GQA). */
  nKvHeads?: number;
  vocabSize: number;
  maxSeqLen: number;
  /** Defaults to dim / nHeads. */
  headDim?: number;
  /** Defaults to 1e-5 (llama2.c). */
  normEps?: number;
  /** Defaults to 10000. */
  ropeTheta?: number;
  ropeScaling?: RopeScaling | null;
  /** Defaults to 'interleaved' (llama2.c). */
  ropeLayout?: RopeLayout;
  /** Classifier shares the token embedding (default true). */
  sharedClassifier?: boolean;
  /** Defaults to 1 (llama2.c). */
  bosId?: number;
  /** Defaults to [2] (llama2.c). */
  eosIds?: readonly number[];
}

export interface ModelConfig {
  readonly dim: number; // width of the residual stream
  readonly hiddenDim: number; // width of the FFN
  readonly nLayers: number;
  readonly nHeads: number; // query heads
  readonly nKvHeads: number; // key/value heads (GQA when < nHeads)
  readonly headDim: number;
  readonly vocabSize: number;
  readonly maxSeqLen: number; // context length: positions 0 .. maxSeqLen-1
  readonly normEps: number;
  readonly ropeTheta: number;
  readonly ropeScaling: RopeScaling | null;
  readonly ropeLayout: RopeLayout;
  readonly sharedClassifier: boolean;
  readonly bosId: number;
  readonly eosIds: readonly number[];
  // derived
  readonly qDim: number; // nHeads * headDim: width of q and of the attention output
  readonly kvDim: number; // nKvHeads * headDim: width of k and v
  readonly kvMul: number; // nHeads / nKvHeads: query heads per kv head
}

function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) {
    throw new ModelError(`model config: ${name} must be a positive integer, got ${value}`);
  }
  return value;
}

export function resolveConfig(p: ModelParams): ModelConfig {
  const dim = positiveInt('dim', p.dim);
  const nHeads = positiveInt('nHeads', p.nHeads);
  const nKvHeads = positiveInt('nKvHeads', p.nKvHeads ?? nHeads);
  if (p.headDim === undefined && dim % nHeads !== 0) {
    throw new ModelError(`model config: dim ${dim} is not a multiple of nHeads ${nHeads}`);
  }
  const headDim = positiveInt('headDim', p.headDim ?? dim / nHeads);
  if (headDim % 2 !== 0) throw new ModelError(`model config: headDim ${headDim} must be even for RoPE`);
  if (nHeads % nKvHeads !== 0) {
    throw new ModelError(`model config: nHeads ${nHeads} is not a multiple of nKvHeads ${nKvHeads}`);
  }
  const normEps = p.normEps ?? 1e-5;
  const ropeTheta = p.ropeTheta ?? 10000;
  if (!(normEps > 0)) throw new ModelError(`model config: normEps must be > 0, got ${normEps}`);
  if (!(ropeTheta > 0)) throw new ModelError(`model config: ropeTheta must be > 0, got ${ropeTheta}`);
  return {
    dim,
    hiddenDim: positiveInt('hiddenDim', p.hiddenDim),
    nLayers: positiveInt('nLayers', p.nLayers),
    nHeads,
    nKvHeads,
    headDim,
    vocabSize: positiveInt('vocabSize', p.vocabSize),
    maxSeqLen: positiveInt('maxSeqLen', p.maxSeqLen),
    normEps,
    ropeTheta,
    ropeScaling: p.ropeScaling ?? null,
    ropeLayout: p.ropeLayout ?? 'interleaved',
    sharedClassifier: p.sharedClassifier ?? true,
    bosId: p.bosId ?? 1,
    eosIds: [...(p.eosIds ?? [2])],
    qDim: nHeads * headDim,
    kvDim: nKvHeads * headDim,
    kvMul: nHeads / nKvHeads,
  };
}

/** The params that resolve to `config` again, with some fields replaced (e.g. another rope layout). */
export function configParams(config: ModelConfig, changes: Partial<ModelParams> = {}): ModelParams {
  const { qDim: _q, kvDim: _kv, kvMul: _m, ...params } = config;
  return { ...params, ...changes };
}
