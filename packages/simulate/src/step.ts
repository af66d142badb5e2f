// One decode step on one rank of a tensor-parallel group, term by term. The ranks run in lockstep,
// so one rank's step is the step. Every kernel runs after the one before it: the step's time is
// the sum of its terms.
//
// Per layer (L of them), with R = batch x tokens per row (1 plain, the tree's nodes with Medusa):
//   matmuls    per-rank weights W = layerParams / tp at the weight precision; roofline:
//              max(W bytes / (HBM bandwidth x efficiency), 2 x layerParams / tp x R / dense FLOPS)
//   attention  the KV cache read, batch x context x 2 x kv_heads x head_dim x kv bytes / tp, against
//              the R queries' 4 x R x (context + tokens per row) x heads / tp x head_dim FLOPs
//   all-reduce 2 per layer of R x hidden x 2 bytes (bf16 activations), see allreduce.ts
//   overhead   a fixed cost per layer: kernel launches and the gaps between small kernels
// Once per step: the LM head over the R rows (vocab-parallel, hidden x vocab / tp), the Medusa heads
// over the batch's accepted rows (each: its residual layers and its own LM head, as FasterDecoding's
// heads are laid out), and a fixed per-step cost.
import { allReduceTime, selectAllReduce, type AllReduceAlgorithm, type AllReduceCosts } from './allreduce.js';
import type { ComputePrecision, Hardware } from './hardware.js';
import { headDim, layerParams, type ModelShape } from './models.js';

export type WeightPrecision = 'fp8' | 'bf16' | 'f32' | 'int4';
export type KvPrecision = 'fp8' | 'bf16' | 'f32';

export const WEIGHT_PRECISIONS: readonly WeightPrecision[] = ['fp8', 'bf16', 'f32', 'int4'];
export const KV_PRECISIONS: readonly KvPrecision[] = ['fp8', 'bf16', 'f32'];

/** Bytes per element. */
export const PRECISION_BYTES: Readonly<Record<WeightPrecision, number>> = { fp8: 1, bf16: 2, f32: 4, int4: 0.5 };

/** Activations (and so all-reduce messages) are bf16. */
export const ACTIVATION_BYTES = 2;

/** What the rest of the step costs beyond the datasheet: fitted once (fitted.ts), then frozen. */
export interface Overheads {
  /** Share of the HBM bandwidth a decode step's kernels reach. */
  hbmEfficiency: number;
  /** Fixed cost of one decoder layer, seconds. */
  layerOverheadS: number;
  /** Fixed cost of one step, seconds. */
  stepOverheadS: number;
  allReduce: AllReduceCosts;
}

export interface StepInput {
  model: ModelShape;
  hardware: Hardware;
  tp: number;
  weights: WeightPrecision;
  kv: KvPrecision;
  batch: number;
  /** Tokens already in each sequence's KV cache. */
  context: number;
  /** Tokens each sequence runs through the layers this step (1, or the Medusa tree's nodes). */
  tokensPerRow: number;
  /** Medusa heads run after the LM head (0 without Medusa). */
  medusaHeads: number;
  /** Residual layers per Medusa head. */
  medusaHeadLayers: number;
  /** false: every rank holds the whole LM head (as gpt-fast's tensor parallelism does). */
  shardedLmHead?: boolean;
  overheads: Overheads;
}

export interface StepTerms {
  /** Matmuls bound by reading their weights. */
  weights_ms: number;
  /** Matmuls bound by tensor-core FLOPS. */
  compute_ms: number;
  /** Attention: reading the KV cache (or its FLOPs, whichever is longer). */
  kv_ms: number;
  allreduce_ms: number;
  /** Per-layer and per-step fixed costs. */
  overhead_ms: number;
  /** The Medusa heads (their matmuls); 0 without Medusa. */
  medusa_heads_ms: number;
}

export interface StepResult {
  step_ms: number;
  terms: StepTerms;
  /** The largest term. */
  bound: keyof StepTerms;
  /** Per rank, per step. */
  weight_bytes: number;
  kv_bytes: number;
  flops: number;
  allreduce: { algorithm: AllReduceAlgorithm; message_bytes: number; count: number; each_us: number };
  /** The step's linear pieces (seconds), which the calibration fits: memory / efficiency + ... */
  parts: { memoryS: number; layers: number; allReduceRounds: number; restS: number };
}

/** The tensor cores a weight precision computes on: int4 is weight-only (dequantised to bf16). */
export function computePrecision(weights: WeightPrecision, hw: Hardware): ComputePrecision {
  const want: ComputePrecision = weights === 'fp8' ? 'fp8' : weights === 'f32' ? 'tf32' : 'bf16';
  return hw.denseFlops[want] !== undefined ? want : 'bf16';
}

interface Cost { memoryS: number; computeS: number; bytes: number; flops: number }

/** A roofline cost of reading `bytes` and doing `flops` at `flopsPerS`. */
function roofline(bytes: number, flops: number, flopsPerS: number, hw: Hardware): Cost {
  return { memoryS: bytes / hw.hbmBytesPerS, computeS: flops / flopsPerS, bytes, flops };
}

export function checkStepInput(s: StepInput): void {
  const m = s.model;
  if (!Number.isInteger(s.tp) || s.tp < 1) throw new Error(`tp must be a positive integer, got ${s.tp}`);
  if (s.tp > s.hardware.gpus) throw new Error(`tp ${s.tp} is more than the ${s.hardware.gpus} GPUs of ${s.hardware.name}`);
  if (m.numHeads % s.tp !== 0) throw new Error(`tp ${s.tp} does not divide ${m.name}'s ${m.numHeads} attention heads`);
  if (m.numKvHeads % s.tp !== 0 && s.tp % m.numKvHeads !== 0) throw new Error(`tp ${s.tp} and ${m.name}'s ${m.numKvHeads} KV heads: neither divides the other`);
  for (const [k, v] of [['batch', s.batch], ['tokensPerRow', s.tokensPerRow]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${k} must be a positive integer, got ${v}`);
  }
  if (!Number.isInteger(s.context) || s.context < 0) throw new Error(`context must be a non-negative integer, got ${s.context}`);
}

/** One step's time and its terms. */
export function simulateStep(s: StepInput): StepResult {
  checkStepInput(s);
  const { model: m, hardware: hw, tp, overheads: o } = s;
  const wBytes = PRECISION_BYTES[s.weights];
  const flopsPerS = hw.denseFlops[computePrecision(s.weights, hw)] as number;
  const rows = s.batch * s.tokensPerRow;
  const eff = o.hbmEfficiency;
  const hd = headDim(m);
  // a KV head is split over ranks when there are more of them than ranks, else copied
  const kvHeadsPerRank = Math.max(m.numKvHeads / tp, 1);

  const layer = roofline((layerParams(m) / tp) * wBytes, (2 * layerParams(m) * rows) / tp, flopsPerS, hw);
  const kvBytes = s.batch * s.context * 2 * kvHeadsPerRank * hd * PRECISION_BYTES[s.kv];
  const attnFlops = 4 * rows * (s.context + s.tokensPerRow) * (m.numHeads / tp) * hd;
  const attention = roofline(kvBytes, attnFlops, hw.denseFlops.bf16 as number, hw);
  const lmHeadParams = (m.hiddenSize * m.vocabSize) / (s.shardedLmHead === false ? 1 : tp);
  const lmHead = roofline(lmHeadParams * wBytes, 2 * lmHeadParams * rows, flopsPerS, hw);
  const headParams = (s.medusaHeadLayers * m.hiddenSize * m.hiddenSize + m.hiddenSize * m.vocabSize) / tp;
  const medusa = roofline(s.medusaHeads * headParams * wBytes, 2 * s.medusaHeads * headParams * s.batch, flopsPerS, hw);

  const terms: StepTerms = { weights_ms: 0, compute_ms: 0, kv_ms: 0, allreduce_ms: 0, overhead_ms: 0, medusa_heads_ms: 0 };
  const parts = { memoryS: 0, layers: m.numLayers, allReduceRounds: 0, restS: 0 };
  /** Adds `c` (`times` over) to a term: the memory side or the compute side, whichever is longer. */
  const add = (c: Cost, times: number, term?: 'kv_ms' | 'medusa_heads_ms'): void => {
    const mem = c.memoryS / eff;
    const memoryBound = mem >= c.computeS;
    const seconds = times * (memoryBound ? mem : c.computeS);
    terms[term ?? (memoryBound ? 'weights_ms' : 'compute_ms')] += seconds * 1e3;
    if (memoryBound) parts.memoryS += times * c.memoryS;
    else parts.restS += seconds;
  };
  add(layer, m.numLayers);
  add(attention, m.numLayers, 'kv_ms');
  add(lmHead, 1);
  if (s.medusaHeads > 0) add(medusa, 1, 'medusa_heads_ms');

  const messageBytes = rows * m.hiddenSize * ACTIVATION_BYTES;
  const algorithm = selectAllReduce(messageBytes, tp, hw, o.allReduce);
  const each = allReduceTime(algorithm, messageBytes, tp, hw, o.allReduce);
  const count = tp > 1 ? 2 * m.numLayers : 0;
  terms.allreduce_ms = count * each * 1e3;
  if (count > 0) {
    const rounds = algorithm === 'twoshot' ? 2 : 1;
    parts.allReduceRounds = count * rounds;
    parts.restS += count * (each - rounds * o.allReduce.roundLatencyS);
  }
  terms.overhead_ms = (m.numLayers * o.layerOverheadS + o.stepOverheadS) * 1e3;
  parts.restS += o.stepOverheadS;

  const names = Object.keys(terms) as (keyof StepTerms)[];
  const bound = names.reduce((a, b) => (terms[b] > terms[a] ? b : a));
  return {
    step_ms: names.reduce((sum, k) => sum + terms[k], 0),
    terms,
    bound,
    weight_bytes: m.numLayers * layer.bytes + lmHead.bytes + medusa.bytes,
    kv_bytes: m.numLayers * kvBytes,
    flops: m.numLayers * (layer.flops + attention.flops) + lmHead.flops + medusa.flops,
    allreduce: { algorithm, message_bytes: messageBytes, count, each_us: each * 1e6 },
    parts,
  };
}
