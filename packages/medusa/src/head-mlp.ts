// One Medusa head's forward and backward pass for a single example, for training.
//
//   x_0 = h;  z_l = W_l x_l + b_l;  x_{l+1} = x_l + SiLU(z_l);  logits = U x_L
//   loss = -w log softmax(logits)_y
// Backward, with g = w (softmax(logits) - onehot(y)):
//   dU += g x_L^T;  dx_L = U^T g
//   dz_l = dx_{l+1} ⊙ SiLU'(z_l),  SiLU'(z) = σ(z) (1 + z (1 - σ(z)))
//   dW_l += dz_l x_l^T;  db_l += dz_l;  dx_l = dx_{l+1} + W_l^T dz_l
import { matvec } from '@octoserve/model';
import type { MedusaHeads } from './heads.js';

/** Gradients of one head, the same shapes as its parameters. */
export interface HeadGrads {
  readonly dW: Float32Array[]; // [numLayers] [dim, dim]
  readonly db: Float32Array[]; // [numLayers] [dim]
  readonly dU: Float32Array; // [vocabSize, dim]
}

/** Activations kept between forward and backward, allocated once. */
export interface HeadWork {
  readonly xs: Float32Array; // [numLayers + 1, dim] x_0 .. x_L
  readonly zs: Float32Array; // [numLayers, dim] pre-activations
  readonly t: Float32Array; // [dim] scratch
  readonly logits: Float32Array; // [vocabSize]
  readonly dx: Float32Array; // [dim]
  readonly dz: Float32Array; // [dim]
}

export function createHeadGrads(heads: MedusaHeads): HeadGrads {
  const { numLayers, dim, vocabSize } = heads;
  return {
    dW: Array.from({ length: numLayers }, () => new Float32Array(dim * dim)),
    db: Array.from({ length: numLayers }, () => new Float32Array(dim)),
    dU: new Float32Array(vocabSize * dim),
  };
}

export function zeroHeadGrads(g: HeadGrads): void {
  for (const a of g.dW) a.fill(0);
  for (const a of g.db) a.fill(0);
  g.dU.fill(0);
}

export function createHeadWork(heads: MedusaHeads): HeadWork {
  const { numLayers, dim, vocabSize } = heads;
  return {
    xs: new Float32Array((numLayers + 1) * dim),
    zs: new Float32Array(numLayers * dim),
    t: new Float32Array(dim),
    logits: new Float32Array(vocabSize),
    dx: new Float32Array(dim),
    dz: new Float32Array(dim),
  };
}

/** Forward pass of head `h` on hidden[offset .. + dim): fills work.xs, work.zs and work.logits. */
export function headForward(heads: MedusaHeads, h: number, hidden: Float32Array, offset: number, work: HeadWork): void {
  const { dim, vocabSize, numLayers } = heads;
  const { xs, zs, t } = work;
  for (let i = 0; i < dim; i++) xs[i] = hidden[offset + i]!;
  for (let l = 0; l < numLayers; l++) {
    const layer = heads.layers[h]![l]!;
    const x = l * dim;
    for (let i = 0; i < dim; i++) t[i] = xs[x + i]!;
    matvec(zs, layer.w, t, dim, dim, x);
    for (let i = 0; i < dim; i++) {
      const z = zs[x + i]! + layer.b[i]!;
      zs[x + i] = z;
      xs[x + dim + i] = xs[x + i]! + z / (1 + Math.exp(-z));
    }
  }
  for (let i = 0; i < dim; i++) t[i] = xs[numLayers * dim + i]!;
  matvec(work.logits, heads.output[h]!, t, vocabSize, dim);
}

/**
 * Cross-entropy of work.logits (after headForward) against `target`, times `weight`; when `grads`
 * is given, accumulates the gradient of the weighted loss into it. Returns the unweighted loss.
 */
export function headBackward(heads: MedusaHeads, h: number, target: number, weight: number, work: HeadWork, grads: HeadGrads | null): number {
  const { dim, vocabSize: V, numLayers } = heads;
  const { logits, xs, zs, dx, dz } = work;
  let max = -Infinity;
  for (let v = 0; v < V; v++) if (logits[v]! > max) max = logits[v]!;
  let sum = 0;
  for (let v = 0; v < V; v++) sum += Math.exp(logits[v]! - max);
  const loss = Math.log(sum) - (logits[target]! - max);
  if (grads === null) return loss;

  // g = w (p - onehot); dU += g x_L^T and dx_L = U^T g in one pass over U
  const u = heads.output[h]!;
  const xL = numLayers * dim;
  dx.fill(0);
  const inv = weight / sum;
  for (let v = 0; v < V; v++) {
    const g = Math.exp(logits[v]! - max) * inv - (v === target ? weight : 0);
    const row = v * dim;
    for (let i = 0; i < dim; i++) {
      dx[i] = dx[i]! + u[row + i]! * g;
      grads.dU[row + i] = grads.dU[row + i]! + g * xs[xL + i]!;
    }
  }
  // back through the residual layers
  for (let l = numLayers - 1; l >= 0; l--) {
    const w = heads.layers[h]![l]!.w;
    const dW = grads.dW[l]!;
    const db = grads.db[l]!;
    const x = l * dim;
    for (let i = 0; i < dim; i++) {
      const z = zs[x + i]!;
      const s = 1 / (1 + Math.exp(-z));
      dz[i] = dx[i]! * s * (1 + z * (1 - s));
    }
    for (let i = 0; i < dim; i++) {
      const d = dz[i]!;
      db[i] = db[i]! + d;
      const row = i * dim;
      for (let j = 0; j < dim; j++) {
        dW[row + j] = dW[row + j]! + d * xs[x + j]!;
        dx[j] = dx[j]! + w[row + j]! * d; // dx_l = dx_{l+1} + W^T dz (the residual path keeps dx_{l+1})
      }
    }
  }
  return loss;
}

/** Rank of `target` in logits (0 = top-1): how many tokens beat it, lower ids winning ties. */
export function targetRank(logits: Float32Array, n: number, target: number): number {
  const y = logits[target]!;
  let rank = 0;
  for (let v = 0; v < n; v++) if (logits[v]! > y || (logits[v] === y && v < target)) rank++;
  return rank;
}
