// Crossover points of `auto`, measured on the reference machine (2 vCPU,
// every rank a process on loopback, so 8 ranks share 2 cores). Re-measure with
//   octoserve bench allreduce --ranks N --algo all --min-bytes 1K --max-bytes 64M
// which prints the rules it derives from the run (fastest p50 per size); the
// machine is shared, so take the median of several runs before changing a row.
//
// What the runs showed (p50, 2026-11-27; see the package's benchmark notes):
//  - up to 256 KiB the star wins at every world size: 2(N-1) messages and one
//    wakeup per leaf, where the others pay per message and per wakeup (8 ranks,
//    4 KiB: star ~0.45 ms, one-shot ~1.2 ms, two-shot ~1.3 ms, ring ~2.2 ms);
//  - from 1 MiB every algorithm is CPU-bound on the same 2(N-1)·S bytes; two-shot
//    (two steps, the work spread over all ranks) is ahead at 4 and 8 ranks, the
//    ring at 2 ranks. Sizes between 256 KiB and 1 MiB go to the midpoint, 512 KiB.
import type { AutoTable } from './auto-select.js';

const KiB = 1024;

export const DEFAULT_AUTO_TABLE: AutoTable = {
  2: [{ maxBytes: 512 * KiB - 1, algorithm: 'star' }, { maxBytes: Infinity, algorithm: 'ring' }],
  4: [{ maxBytes: 512 * KiB - 1, algorithm: 'star' }, { maxBytes: Infinity, algorithm: 'twoshot' }],
  8: [{ maxBytes: 512 * KiB - 1, algorithm: 'star' }, { maxBytes: Infinity, algorithm: 'twoshot' }],
};
