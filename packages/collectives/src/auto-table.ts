// Crossover points of `auto`, per fabric, measured on the reference machine (2 vCPU, every rank a
// process on loopback, so 8 ranks share 2 cores). Re-measure with
//   octoserve bench allreduce --ranks N --algo all --min-bytes 1K --max-bytes 4M --fabric F
// which prints the rules it derives from the run (fastest p50 per size); the machine is shared,
// so take the median of several runs before changing a row.
//
// gRPC (p50, 2026-11-27; see the package's benchmark notes):
//  - up to 256 KiB the star wins at every world size: 2(N-1) messages and one
//    wakeup per leaf, where the others pay per message and per wakeup (8 ranks,
//    4 KiB: star ~0.45 ms, one-shot ~1.2 ms, two-shot ~1.3 ms, ring ~2.2 ms);
//  - from 1 MiB every algorithm is CPU-bound on the same 2(N-1)·S bytes; two-shot
//    (two steps, the work spread over all ranks) is ahead at 4 and 8 ranks, the
//    ring at 2 ranks. Sizes between 256 KiB and 1 MiB go to the midpoint, 512 KiB.
//
// socket (p50 us, 2026-12-02, one run per world size):
//  - 2 ranks: one-shot (each rank sends its part to the other, one message latency) wins to
//    16 KiB: 1 KiB 55.8 against star's 81.1, 4 KiB 71.5 / 86.5, 16 KiB 66.0 / 97.2; the ring from
//    64 KiB (158.8 against one-shot's 184.4) to 1 MiB (993 against star's 2191);
//  - 4 ranks: star to 256 KiB (1 KiB 106, 16 KiB 172 against tree's 353, 64 KiB 572), two-shot at
//    1 MiB (10.2 ms against star's 11.3);
//  - 8 ranks: star and tree within 20% of each other to 64 KiB (star 223 / 589 / 1330 at 1 / 16 /
//    64 KiB), two-shot from 256 KiB (3.8 ms against star's 4.3, 1 MiB 24.0 against 26.5).
//  - recursive doubling (2026-12-07, medians of 2 rounds, p50 us at 1 / 4 / 16 / 64 KiB): 8 ranks
//    358 / 438 / 1013 / 1985 against star's 256 / 302 / 479 / 1094; 4 ranks 109 / 151 / 230 / 408
//    against star's 78 / 89 / 174 / 360. Its log2(N) steps each need both partners on a core;
//    with N ranks on 2 cores the star's single hub wakes fewer of them.
//  - 8 ranks once large frames were pooled and same-host links became Unix-domain sockets
//    (2026-12-07, two rounds, barrier before each iteration, p50 ms at 256 KiB / 512 KiB / 1 MiB /
//    2 MiB / 4 MiB): two-shot 8.1-5.5 / 12.6-12.8 / 25.1-27.5 / 74.8-61.8 / 84.8-70.3, tree
//    9.4-10.0 / 13.8-14.0 / 22.9-15.4 / 41.6-46.4 / 73.9-64.9, star 12.0-26.6 / 13.0-32.0 /
//    27.7-45.7 / 52.7-55.0 / 99.3-114.8. The tree sends each byte once up and once down through
//    log2(N) levels and takes about half two-shot's CPU there (1 MiB: 20-26 ms against 48-51).
import type { AutoTable } from './auto-select.js';
import type { Fabric } from './fabric.js';

const KiB = 1024;

export const AUTO_TABLES: Readonly<Record<Fabric, AutoTable>> = {
  grpc: {
    2: [{ maxBytes: 512 * KiB - 1, algorithm: 'star' }, { maxBytes: Infinity, algorithm: 'ring' }],
    4: [{ maxBytes: 512 * KiB - 1, algorithm: 'star' }, { maxBytes: Infinity, algorithm: 'twoshot' }],
    8: [{ maxBytes: 512 * KiB - 1, algorithm: 'star' }, { maxBytes: Infinity, algorithm: 'twoshot' }],
  },
  socket: {
    2: [{ maxBytes: 32 * KiB - 1, algorithm: 'oneshot' }, { maxBytes: Infinity, algorithm: 'ring' }],
    4: [{ maxBytes: 512 * KiB - 1, algorithm: 'star' }, { maxBytes: Infinity, algorithm: 'twoshot' }],
    8: [{ maxBytes: 128 * KiB - 1, algorithm: 'star' }, { maxBytes: 1024 * KiB - 1, algorithm: 'twoshot' }, { maxBytes: Infinity, algorithm: 'tree' }],
  },
  // a world whose ranks all mapped the segment sums through it at every size and world size (fabric.ts, shared-segment.ts)
  shm: { 8: [{ maxBytes: Infinity, algorithm: 'shm' }] },
};
