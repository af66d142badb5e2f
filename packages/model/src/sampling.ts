// Choosing the next token from logits: greedy, or temperature with top-k and top-p (nucleus)
// filtering, driven by a seeded PRNG. All buffers are allocated once per Sampler.
import { ModelError } from './errors.js';
import { Rng } from './random.js';

export interface SamplingParams {
  /** 0 means greedy (argmax). */
  temperature: number;
  /** Keep only the k most likely tokens (0 or undefined: no limit). */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (1 or undefined: no limit). */
  topP?: number;
  seed?: number;
}

/** Index of the largest x[i], i < n; the lowest index wins ties. */
export function argmax(x: Float32Array, n = x.length): number {
  let best = 0;
  let bestValue = x[0]!;
  for (let i = 1; i < n; i++) {
    if (x[i]! > bestValue) {
      best = i;
      bestValue = x[i]!;
    }
  }
  return best;
}

/** True when candidate a ranks above b: higher probability, then lower id. */
function ranksAbove(pa: number, ia: number, pb: number, ib: number): boolean {
  return pa > pb || (pa === pb && ia < ib);
}

/**
 * Restores the heap property below `root` in a heap of ids[0..end) whose root is the candidate
 * ranked lowest (so the root is the one to evict).
 */
function siftDown(ids: Int32Array, probs: Float32Array, root: number, end: number): void {
  for (;;) {
    let child = 2 * root + 1;
    if (child >= end) return;
    if (child + 1 < end && ranksAbove(probs[child]!, ids[child]!, probs[child + 1]!, ids[child + 1]!)) child++;
    if (!ranksAbove(probs[root]!, ids[root]!, probs[child]!, ids[child]!)) return;
    const p = probs[root]!; probs[root] = probs[child]!; probs[child] = p;
    const i = ids[root]!; ids[root] = ids[child]!; ids[child] = i;
    root = child;
  }
}

/** Turns the heap ids[0..n) into best-first order: a heapsort that moves the lowest-ranked to the back. */
function sortHeap(ids: Int32Array, probs: Float32Array, n: number): void {
  for (let end = n - 1; end > 0; end--) {
    const p = probs[0]!; probs[0] = probs[end]!; probs[end] = p;
    const i = ids[0]!; ids[0] = ids[end]!; ids[end] = i;
    siftDown(ids, probs, 0, end);
  }
}

function heapify(ids: Int32Array, probs: Float32Array, n: number): void {
  for (let start = (n >> 1) - 1; start >= 0; start--) siftDown(ids, probs, start, n);
}

export class Sampler {
  readonly temperature: number;
  readonly topK: number;
  readonly topP: number;
  private readonly rng: Rng;
  private readonly probs: Float32Array; // [vocabSize] softmax of logits / temperature
  private readonly candIds: Int32Array; // [vocabSize] candidate token ids
  private readonly candProbs: Float32Array; // [vocabSize] their probabilities

  constructor(readonly vocabSize: number, params: SamplingParams) {
    const { temperature, topK = 0, topP = 1, seed = 0 } = params;
    if (!(temperature >= 0 && Number.isFinite(temperature))) throw new ModelError(`temperature must be a number >= 0, got ${temperature}`);
    if (!(Number.isInteger(topK) && topK >= 0)) throw new ModelError(`top-k must be an integer >= 0, got ${topK}`);
    if (!(topP > 0 && topP <= 1)) throw new ModelError(`top-p must be in (0, 1], got ${topP}`);
    this.temperature = temperature;
    this.topK = topK === 0 ? vocabSize : Math.min(topK, vocabSize);
    this.topP = topP;
    this.rng = new Rng(seed, 'sampler');
    this.probs = new Float32Array(vocabSize);
    this.candIds = new Int32Array(vocabSize);
    this.candProbs = new Float32Array(vocabSize);
  }

  /** The next token for `logits` ([vocabSize]; not modified). */
  sample(logits: Float32Array): number {
    const n = this.vocabSize;
    if (this.temperature === 0) return argmax(logits, n);
    // softmax(logits / temperature)
    const probs = this.probs;
    let max = -Infinity;
    for (let i = 0; i < n; i++) if (logits[i]! > max) max = logits[i]!;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const e = Math.exp((logits[i]! - max) / this.temperature);
      probs[i] = e;
      sum += e;
    }
    for (let i = 0; i < n; i++) probs[i] = probs[i]! / sum;
    const coin = this.rng.nextFloat();
    if (this.topK >= n && this.topP >= 1) return this.sampleAll(coin);
    return this.sampleFiltered(coin);
  }

  /** Inverse CDF over the whole distribution. */
  private sampleAll(coin: number): number {
    let cdf = 0;
    for (let i = 0; i < this.vocabSize; i++) {
      cdf += this.probs[i]!;
      if (coin < cdf) return i;
    }
    return this.vocabSize - 1; // rounding left the total a hair below 1
  }

  /** Top-k, then top-p, over candidates sorted best first, then inverse CDF over what is kept. */
  private sampleFiltered(coin: number): number {
    const { probs, candIds, candProbs, vocabSize: n, topK } = this;
    let m = 0;
    if (topK < n) {
      // the k best: a heap of size k whose root is the worst kept so far
      for (; m < topK; m++) {
        candIds[m] = m;
        candProbs[m] = probs[m]!;
      }
      heapify(candIds, candProbs, m);
      for (let i = m; i < n; i++) {
        if (ranksAbove(probs[i]!, i, candProbs[0]!, candIds[0]!)) {
          candIds[0] = i;
          candProbs[0] = probs[i]!;
          siftDown(candIds, candProbs, 0, m);
        }
      }
    } else {
      // top-p alone: a token below (1-p)/(n-1) cannot be in the nucleus (the most likely always is)
      let best = 0;
      for (let i = 0; i < n; i++) if (probs[i]! > best) best = probs[i]!;
      const cutoff = Math.min((1 - this.topP) / (n - 1), best);
      for (let i = 0; i < n; i++) {
        if (probs[i]! >= cutoff) {
          candIds[m] = i;
          candProbs[m] = probs[i]!;
          m++;
        }
      }
      heapify(candIds, candProbs, m);
    }
    sortHeap(candIds, candProbs, m);
    // keep the smallest prefix whose mass reaches topP
    let mass = 0;
    let kept = m;
    for (let i = 0; i < m; i++) {
      mass += candProbs[i]!;
      if (mass >= this.topP) {
        kept = i + 1;
        break;
      }
    }
    mass = 0;
    for (let i = 0; i < kept; i++) mass += candProbs[i]!;
    const target = coin * mass;
    let cdf = 0;
    for (let i = 0; i < kept; i++) {
      cdf += candProbs[i]!;
      if (target < cdf) return candIds[i]!;
    }
    return candIds[kept - 1]!;
  }
}
