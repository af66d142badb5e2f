// Model shapes (the HF config.json fields a decode step's cost depends on) and, per model, the
// default Medusa acceptance: the probability that a step's accepted path reaches each depth.
import { readFileSync } from 'node:fs';

export interface ModelShape {
  name: string;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  vocabSize: number;
  /**
   * Per-depth acceptance a_d = P(the accepted path reaches depth d), d = 1, 2, ...; the expected
   * tokens per step are 1 + the sum of a_d over the tree's depths.
   */
  acceptance: readonly number[];
  /** Where `acceptance` comes from. */
  acceptanceSource: string;
}

/**
 * Per-depth acceptance with the published mean tokens per step `tokensPerStep` of a `depth`-deep
 * tree: a_d = p^d with p chosen so that 1 + p + p^2 + ... + p^depth = tokensPerStep. The sources
 * publish the mean, not its split over depths; the geometric split is this model's assumption.
 */
export function geometricAcceptance(tokensPerStep: number, depth: number): number[] {
  const extra = tokensPerStep - 1;
  if (!(extra > 0 && extra < depth)) throw new Error(`tokens per step must be in (1, ${depth + 1}), got ${tokensPerStep}`);
  const sum = (p: number): number => { let s = 0; for (let d = 1; d <= depth; d++) s += p ** d; return s; };
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 60; i++) { const mid = (lo + hi) / 2; if (sum(mid) < extra) lo = mid; else hi = mid; }
  const p = (lo + hi) / 2;
  return Array.from({ length: depth }, (_, d) => Math.round(p ** (d + 1) * 1000) / 1000);
}

// Spec-Bench (Xia et al. 2024, github.com/hemingkx/Spec-Bench, Leaderboard.md, "Leaderboard on
// A100"): Medusa (FasterDecoding's Medusa-1 heads on a frozen base, greedy, so lossless as
// TensorRT-LLM's Medusa is) has "#Mean Accepted Tokens" (tokens per step, 1.00 for plain decoding)
// 2.32 on Vicuna-7B-v1.3 and 2.33 on Vicuna-33B-v1.3, the largest model measured.
const VICUNA_7B_TOKENS_PER_STEP = 2.32;
const VICUNA_33B_TOKENS_PER_STEP = 2.33;
// packages/medusa/src/presets.ts: the stories260k tree accepts 3.33 tokens per step on the golden
// prompts with the heads `octoserve medusa train` writes by default.
const STORIES260K_TOKENS_PER_STEP = 3.33;
/** Medusa's trees (mc_sim_7b_63 among them) are 4 deep. */
const TREE_DEPTH = 4;

const SMALL_SOURCE = 'Spec-Bench A100 leaderboard, Medusa on Vicuna-7B: 2.32 tokens/step, split geometrically over 4 depths';
const LARGE_SOURCE = 'Spec-Bench A100 leaderboard, Medusa on Vicuna-33B (its largest model): 2.33 tokens/step, split geometrically over 4 depths';
const STORIES_SOURCE = 'octoserve stories260k heads and tree (packages/medusa/src/presets.ts): 3.33 tokens/step, split geometrically over 4 depths';

const small = { acceptance: geometricAcceptance(VICUNA_7B_TOKENS_PER_STEP, TREE_DEPTH), acceptanceSource: SMALL_SOURCE };
const large = { acceptance: geometricAcceptance(VICUNA_33B_TOKENS_PER_STEP, TREE_DEPTH), acceptanceSource: LARGE_SOURCE };

/** Shapes from each model's published config.json (Hugging Face) or llama2.c header. */
export const MODEL_PRESETS: Readonly<Record<string, ModelShape>> = Object.freeze({
  // meta-llama/Llama-3.1-8B config.json
  'llama-3.1-8b': { name: 'llama-3.1-8b', hiddenSize: 4096, intermediateSize: 14336, numLayers: 32, numHeads: 32, numKvHeads: 8, vocabSize: 128256, ...small },
  // meta-llama/Llama-3.1-70B config.json
  'llama-3.1-70b': { name: 'llama-3.1-70b', hiddenSize: 8192, intermediateSize: 28672, numLayers: 80, numHeads: 64, numKvHeads: 8, vocabSize: 128256, ...large },
  // meta-llama/Llama-3.1-405B config.json
  'llama-3.1-405b': { name: 'llama-3.1-405b', hiddenSize: 16384, intermediateSize: 53248, numLayers: 126, numHeads: 128, numKvHeads: 8, vocabSize: 128256, ...large },
  // karpathy/tinyllamas stories260K.bin header (packages/model/models/stories260K)
  stories260K: {
    name: 'stories260K', hiddenSize: 64, intermediateSize: 172, numLayers: 5, numHeads: 8, numKvHeads: 4, vocabSize: 512,
    acceptance: geometricAcceptance(STORIES260K_TOKENS_PER_STEP, TREE_DEPTH), acceptanceSource: STORIES_SOURCE,
  },
  // karpathy/tinyllamas stories15M.bin header (as packages/model/src/synth.ts's stories15m shape)
  stories15M: { name: 'stories15M', hiddenSize: 288, intermediateSize: 768, numLayers: 6, numHeads: 6, numKvHeads: 6, vocabSize: 32000, ...small },
  // karpathy/tinyllamas stories110M.bin header (as packages/model/src/synth.ts's stories110m shape)
  stories110M: { name: 'stories110M', hiddenSize: 768, intermediateSize: 2048, numLayers: 12, numHeads: 12, numKvHeads: 12, vocabSize: 32000, ...small },
});

function field(o: Record<string, unknown>, key: string, source: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new Error(`${source}: ${key} must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

/** A shape from an HF config.json's fields; the acceptance defaults to the Llama 3.1 70B/405B one. */
export function parseHfConfig(json: unknown, source: string): ModelShape {
  if (typeof json !== 'object' || json === null) throw new Error(`${source}: expected a JSON object`);
  const o = json as Record<string, unknown>;
  const numHeads = field(o, 'num_attention_heads', source);
  const shape: ModelShape = {
    name: source,
    hiddenSize: field(o, 'hidden_size', source),
    intermediateSize: field(o, 'intermediate_size', source),
    numLayers: field(o, 'num_hidden_layers', source),
    numHeads,
    numKvHeads: o['num_key_value_heads'] === undefined ? numHeads : field(o, 'num_key_value_heads', source),
    vocabSize: field(o, 'vocab_size', source),
    ...large,
  };
  if (shape.hiddenSize % numHeads !== 0) throw new Error(`${source}: hidden_size ${shape.hiddenSize} is not a multiple of num_attention_heads ${numHeads}`);
  if (numHeads % shape.numKvHeads !== 0) throw new Error(`${source}: num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${shape.numKvHeads}`);
  return shape;
}

/** A preset by name, or the path of a config.json. */
export function resolveModel(nameOrPath: string): ModelShape {
  const preset = MODEL_PRESETS[nameOrPath];
  if (preset !== undefined) return preset;
  if (!nameOrPath.endsWith('.json')) throw new Error(`unknown model '${nameOrPath}': expected ${Object.keys(MODEL_PRESETS).join(', ')} or a config.json path`);
  return parseHfConfig(JSON.parse(readFileSync(nameOrPath, 'utf8')), nameOrPath);
}

export function headDim(m: ModelShape): number {
  return m.hiddenSize / m.numHeads;
}

/** Weights of one decoder layer: q, k, v, o and the gated MLP's three matrices (norms are noise). */
export function layerParams(m: ModelShape): number {
  const hd = headDim(m);
  const attention = 2 * m.hiddenSize * m.numHeads * hd + 2 * m.hiddenSize * m.numKvHeads * hd;
  return attention + 3 * m.hiddenSize * m.intermediateSize;
}
