// The exact reference the collective tests compare against: the float32 sum
// of every rank's input in the order each all-reduce algorithm documents.
import type { AllReduceAlgorithmName } from './auto-select.js';
import { blockStart } from './partition.js';
import { powerOfTwoBelow } from './algorithms/doubling.js';

/** Recursive doubling's order: s_r = x_r (+ x_{r+P}), then pairwise sums of neighbours until one is left. */
function doublingSum(at: (r: number) => number, N: number): number {
  const P = powerOfTwoBelow(N);
  let level = Array.from({ length: P }, (_, r) => (r < N - P ? Math.fround(at(r) + at(r + P)) : at(r)));
  while (level.length > 1) level = level.filter((_, i) => i % 2 === 0).map((v, i) => Math.fround(v + (level[2 * i + 1] as number)));
  return level[0] as number;
}

/** The float32 sum of every rank's x[i], in the order the algorithm documents. */
export function referenceSum(inputs: Float32Array[], algorithm: AllReduceAlgorithmName): Float32Array {
  const N = inputs.length;
  const L = (inputs[0] as Float32Array).length;
  const out = new Float32Array(L);
  const at = (r: number, i: number): number => (inputs[r] as Float32Array)[i] as number;
  const sumRanks = (from: number, to: number, i: number): number => {
    let acc = at(from, i);
    for (let r = from + 1; r < to; r++) acc = Math.fround(acc + at(r, i));
    return acc;
  };
  for (let b = 0; b < N; b++) {
    for (let i = blockStart(L, N, b); i < blockStart(L, N, b + 1); i++) {
      if (algorithm === 'ring') {
        // block b is summed along the ring, starting at rank b+1
        let acc = at((b + 1) % N, i);
        for (let k = 2; k <= N; k++) acc = Math.fround(acc + at((b + k) % N, i));
        out[i] = acc;
      } else if (algorithm === 'doubling') {
        out[i] = doublingSum((r) => at(r, i), N);
      } else if (algorithm === 'tree') {
        const h = Math.floor(N / 2);
        out[i] = h === 0 ? sumRanks(0, N, i) : Math.fround(sumRanks(0, h, i) + sumRanks(h, N, i));
      } else {
        out[i] = sumRanks(0, N, i); // rank order: one-shot, two-shot, star, shm
      }
    }
  }
  return out;
}
