// Training Medusa heads by self-distillation (Medusa-1: the base model frozen, heads only).
//
// The base model writes its own text (train-data.ts) and its final hidden states are recorded.
// Head k learns, from the hidden state h_t after token t, the token at t + k + 2 (the base LM
// head predicts t + 1), by cross-entropy with weight decay^k, Adam, and a cosine learning-rate
// schedule. Every head starts equal to the base LM head (zero residual layers, projection copied
// from it), so training starts from "guess the next token" and only has to learn the shift.
// (Heads share no parameters, so with Adam the per-head loss weight changes little: Adam's step
// does not scale with the gradient; it is kept because it is the published recipe.)
// Deterministic for a seed: seeded text, seeded shuffles, fixed initialisation.
import { Rng, type Transformer } from '@octoserve/model';
import { Adam } from './adam.js';
import { createHeadGrads, createHeadWork, headBackward, headForward, targetRank, zeroHeadGrads, type HeadGrads } from './head-mlp.js';
import { createMedusaHeads, type MedusaHeads } from './heads.js';
import { generateDistillData, type DistillData } from './train-data.js';

export interface TrainMedusaOptions {
  /** Heads to train (default 4). */
  numHeads?: number;
  /** Residual layers per head (default 1). */
  numLayers?: number;
  /** Tokens of self-written training text (default 100000); held-out text is a tenth of it more. */
  tokens?: number;
  /** Passes over the training text (default 1). */
  epochs?: number;
  /** Examples per Adam step (default 64). */
  batchSize?: number;
  /** Peak learning rate (default 0.02), decayed by a cosine to a tenth. */
  lr?: number;
  /** Loss weight of head k is decay^k (default 0.8). */
  decay?: number;
  seed?: number;
  /** Ids that end the model's text (its BOS/EOS). */
  stopIds: readonly number[];
  onProgress?: (progress: TrainProgress) => void;
}

export interface TrainProgress {
  phase: 'generate' | 'train' | 'evaluate';
  done: number;
  total: number;
  /** Training: head 0's mean loss since the last report. */
  loss?: number;
}

/** Held-out accuracy of one head: how often the true token is its top guess, or in its top 5. */
export interface HeadAccuracy {
  top1: number;
  top5: number;
  /** [RANKS] share of examples whose true token is the head's guess of rank r (for tree design). */
  rankShare: number[];
  examples: number;
}

/** Ranks whose hit rates evaluateHeads reports. */
export const RANKS = 10;

export interface TrainMedusaResult {
  heads: MedusaHeads;
  /** [numHeads] on held-out text. */
  accuracy: HeadAccuracy[];
  trainTokens: number;
  heldOutTokens: number;
  generateMs: number;
  trainMs: number;
  evaluateMs: number;
  /** The settings the run used: the options given, the defaults for the rest. */
  settings: Required<Omit<TrainMedusaOptions, 'stopIds' | 'onProgress'>>;
}

/** For each position, the end of its sequence (targets never cross into the next sequence). */
function sequenceEnds(data: DistillData): Int32Array {
  const end = new Int32Array(data.tokens.length);
  for (let i = 0; i + 1 < data.seqStart.length; i++) end.fill(data.seqStart[i + 1]!, data.seqStart[i]!, data.seqStart[i + 1]!);
  return end;
}

/** Positions t with a target for head 0 (t + 2 inside its sequence). */
function examplePositions(end: Int32Array): Int32Array {
  const list: number[] = [];
  for (let t = 0; t < end.length; t++) if (t + 2 < end[t]!) list.push(t);
  return Int32Array.from(list);
}

export function trainMedusaHeads(transformer: Transformer, options: TrainMedusaOptions): TrainMedusaResult {
  const numHeads = options.numHeads ?? 4;
  const numLayers = options.numLayers ?? 1;
  const tokens = options.tokens ?? 100_000;
  const epochs = options.epochs ?? 1;
  const batchSize = options.batchSize ?? 64;
  const peakLr = options.lr ?? 0.02;
  const decay = options.decay ?? 0.8;
  const seed = options.seed ?? 0;
  const progress = options.onProgress ?? (() => undefined);
  const { dim, vocabSize } = transformer.config;
  if (!(Number.isInteger(epochs) && epochs >= 1)) throw new Error(`epochs must be a positive integer, got ${epochs}`);
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new Error(`batch size must be a positive integer, got ${batchSize}`);

  // 1. the base model writes its training and held-out text
  const t0 = performance.now();
  const heldOutTokens = Math.max(1000, Math.round(tokens / 10));
  const all = tokens + heldOutTokens;
  const gen = { stopIds: options.stopIds, onProgress: (d: number) => progress({ phase: 'generate', done: d, total: all }) };
  const train = generateDistillData(transformer, { ...gen, tokens, seed });
  const heldOut = generateDistillData(transformer, {
    ...gen, tokens: heldOutTokens, seed: seed + 0x5bd1e995, onProgress: (d) => progress({ phase: 'generate', done: tokens + d, total: all }),
  });
  const t1 = performance.now();

  // 2. heads that start as the base LM head, one Adam per head
  const heads = createMedusaHeads(numHeads, numLayers, transformer.weights.output, dim, vocabSize);
  const grads: HeadGrads[] = Array.from({ length: numHeads }, () => createHeadGrads(heads));
  const gradList = grads.map((g) => [...g.dW, ...g.db, g.dU]);
  const adams = Array.from({ length: numHeads }, (_, h) => {
    const layers = heads.layers[h]!;
    return new Adam([...layers.map((l) => l.w), ...layers.map((l) => l.b), heads.output[h]!]);
  });
  const work = createHeadWork(heads);
  const counts = new Int32Array(numHeads); // examples per head in the batch
  const weights = Array.from({ length: numHeads }, (_, k) => decay ** k);

  const end = sequenceEnds(train);
  const examples = examplePositions(end);
  const batches = Math.ceil(examples.length / batchSize);
  const totalSteps = epochs * batches;
  const rng = new Rng(seed, 'medusa-train-shuffle');
  let stepIndex = 0;
  let lossSum = 0; // head 0's loss since the last progress report
  let lossCount = 0;
  for (let epoch = 0; epoch < epochs; epoch++) {
    // Fisher-Yates shuffle of the example positions
    for (let i = examples.length - 1; i > 0; i--) {
      const j = rng.nextU32() % (i + 1);
      const tmp = examples[i]!;
      examples[i] = examples[j]!;
      examples[j] = tmp;
    }
    for (let b = 0; b < batches; b++, stepIndex++) {
      for (const g of grads) zeroHeadGrads(g);
      counts.fill(0);
      let loss0 = 0;
      const stop = Math.min(examples.length, (b + 1) * batchSize);
      for (let e = b * batchSize; e < stop; e++) {
        const t = examples[e]!;
        for (let k = 0; k < numHeads; k++) {
          const target = t + k + 2;
          if (target >= end[t]!) break; // later heads' targets are further out still
          headForward(heads, k, train.hidden, t * dim, work);
          const loss = headBackward(heads, k, train.tokens[target]!, weights[k]!, work, grads[k]!);
          if (k === 0) loss0 += loss;
          counts[k]!++;
        }
      }
      // cosine schedule from peakLr down to peakLr / 10
      const lr = peakLr * (0.1 + 0.45 * (1 + Math.cos((Math.PI * stepIndex) / totalSteps)));
      for (let k = 0; k < numHeads; k++) if (counts[k]! > 0) adams[k]!.step(gradList[k]!, lr, 1 / counts[k]!);
      lossSum += loss0;
      lossCount += counts[0]!;
      if (stepIndex % 20 === 19 || stepIndex === totalSteps - 1) {
        progress({ phase: 'train', done: stepIndex + 1, total: totalSteps, loss: lossSum / Math.max(1, lossCount) });
        lossSum = 0;
        lossCount = 0;
      }
    }
  }
  const t2 = performance.now();

  // 3. per-head top-1 / top-5 on the held-out text
  const accuracy = evaluateHeads(heads, heldOut, (d, total) => progress({ phase: 'evaluate', done: d, total }));
  const t3 = performance.now();
  return {
    heads, accuracy, trainTokens: train.tokens.length, heldOutTokens: heldOut.tokens.length, generateMs: t1 - t0, trainMs: t2 - t1, evaluateMs: t3 - t2,
    settings: { numHeads, numLayers, tokens, epochs, batchSize, lr: peakLr, decay, seed },
  };
}

/** Top-1 and top-5 accuracy of every head on `data` (head k at t against the token at t + k + 2). */
export function evaluateHeads(heads: MedusaHeads, data: DistillData, onProgress?: (done: number, total: number) => void): HeadAccuracy[] {
  const work = createHeadWork(heads);
  const end = sequenceEnds(data);
  const hits = new Float64Array(heads.numHeads * RANKS); // [numHeads, RANKS]
  const n = new Float64Array(heads.numHeads);
  for (let t = 0; t < data.tokens.length; t++) {
    for (let k = 0; k < heads.numHeads && t + k + 2 < end[t]!; k++) {
      headForward(heads, k, data.hidden, t * data.dim, work);
      const rank = targetRank(work.logits, heads.vocabSize, data.tokens[t + k + 2]!);
      n[k]!++;
      if (rank < RANKS) hits[k * RANKS + rank]!++;
    }
    if (t % 1000 === 0) onProgress?.(t, data.tokens.length);
  }
  onProgress?.(data.tokens.length, data.tokens.length);
  return Array.from({ length: heads.numHeads }, (_, k) => {
    const rankShare = Array.from(hits.subarray(k * RANKS, (k + 1) * RANKS), (h) => (n[k]! > 0 ? h / n[k]! : 0));
    return { top1: rankShare[0]!, top5: rankShare.slice(0, 5).reduce((a, b) => a + b, 0), rankShare, examples: n[k]! };
  });
}

/**
 * [positions, numHeads] each head's rank of its true token at every position of `data` that has a
 * target for head 0; -1 where the rank is RANKS or worse or the head's target lies past the
 * sequence's end. The input of designTree.
 */
export function evaluateRanks(heads: MedusaHeads, data: DistillData): Int32Array {
  const work = createHeadWork(heads);
  const end = sequenceEnds(data);
  const positions = examplePositions(end);
  const ranks = new Int32Array(positions.length * heads.numHeads).fill(-1);
  positions.forEach((t, e) => {
    for (let k = 0; k < heads.numHeads && t + k + 2 < end[t]!; k++) {
      headForward(heads, k, data.hidden, t * data.dim, work);
      const rank = targetRank(work.logits, heads.vocabSize, data.tokens[t + k + 2]!);
      ranks[e * heads.numHeads + k] = rank < RANKS ? rank : -1;
    }
  });
  return ranks;
}
