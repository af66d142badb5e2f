// Medusa heads: K small residual MLPs on the base model's final hidden state, each guessing a token
// further ahead (Cai et al., 2024). Head k, with L residual layers:
//
//   x_0 = h                                   (final-norm hidden state, [dim])
//   x_{l+1} = x_l + SiLU(W_{k,l} x_l + b_{k,l})   for l < L
//   logits_k = U_k x_L                        (U_k: [vocab, dim], no bias; the base LM head when shared)
//
// Head k is trained to predict the token k + 2 positions after the hidden state's token (the
// base LM head predicts k = -1's: the very next one).
import { matvec } from '@octoserve/model';

/** One residual layer of a head. */
export interface MedusaHeadLayer {
  readonly w: Float32Array; // [dim, dim] (out, in)
  readonly b: Float32Array; // [dim]
}

export interface MedusaHeads {
  readonly numHeads: number;
  /** Residual layers per head (the same for every head). */
  readonly numLayers: number;
  readonly dim: number;
  readonly vocabSize: number;
  /** [numHeads][numLayers] */
  readonly layers: readonly (readonly MedusaHeadLayer[])[];
  /** [numHeads] each head's projection [vocabSize, dim]; null: the base model's LM head. */
  readonly output: readonly (Float32Array | null)[];
}

/**
 * Fresh heads that equal the base LM head: every residual layer zero (SiLU(0) = 0, so x_L = h) and
 * every projection a copy of `baseOutput` ([vocabSize, dim]), the starting point of training.
 */
export function createMedusaHeads(numHeads: number, numLayers: number, baseOutput: Float32Array, dim: number, vocabSize: number): MedusaHeads {
  if (!(Number.isInteger(numHeads) && numHeads >= 1)) throw new Error(`number of heads must be a positive integer, got ${numHeads}`);
  if (!(Number.isInteger(numLayers) && numLayers >= 0)) throw new Error(`layers per head must be an integer >= 0, got ${numLayers}`);
  if (baseOutput.length !== vocabSize * dim) {
    throw new Error(`base LM head has ${baseOutput.length} values; [${vocabSize}, ${dim}] needs ${vocabSize * dim}`);
  }
  return {
    numHeads,
    numLayers,
    dim,
    vocabSize,
    layers: Array.from({ length: numHeads }, () =>
      Array.from({ length: numLayers }, () => ({ w: new Float32Array(dim * dim), b: new Float32Array(dim) }))),
    output: Array.from({ length: numHeads }, () => baseOutput.slice()),
  };
}

/** Scratch for applyHead, allocated once. */
export interface HeadScratch {
  readonly x: Float32Array; // [dim] residual stream of the head
  readonly t: Float32Array; // [dim] W x + b
}

export function createHeadScratch(dim: number): HeadScratch {
  return { x: new Float32Array(dim), t: new Float32Array(dim) };
}

/**
 * Head `head`'s logits for the hidden state hidden[hiddenOffset .. + dim) into
 * logits[logitsOffset .. + vocabSize). `baseOutput` ([vocabSize, dim]) serves heads whose
 * projection is shared with the base model. Allocates nothing.
 */
export function applyHead(
  heads: MedusaHeads, head: number,
  hidden: Float32Array, hiddenOffset: number,
  baseOutput: Float32Array | null,
  scratch: HeadScratch,
  logits: Float32Array, logitsOffset = 0,
): void {
  const { dim, vocabSize } = heads;
  const { x, t } = scratch;
  for (let i = 0; i < dim; i++) x[i] = hidden[hiddenOffset + i]!;
  for (const layer of heads.layers[head]!) {
    // x <- x + SiLU(W x + b)
    matvec(t, layer.w, x, dim, dim);
    for (let i = 0; i < dim; i++) {
      const z = t[i]! + layer.b[i]!;
      x[i] = x[i]! + z / (1 + Math.exp(-z));
    }
  }
  const u = heads.output[head] ?? baseOutput;
  if (u === null || u === undefined) throw new Error(`head ${head} shares the base LM head, but none was given`);
  matvec(logits, u, x, vocabSize, dim, logitsOffset);
}
