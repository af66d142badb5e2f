// One rank of `octoserve bench allreduce` (run by runRanks in bench.ts): for
// every algorithm and size, warm up, agree on an iteration count, time each
// all-reduce, and check every result against the exact sum. Each timed
// all-reduce starts after a barrier, as in the MPI timing program (mpi-peer.ts):
// the check of one result is not in the time of the next.
import type { AllReduceAlgorithm } from './auto-select.js';
import { CpuBurner } from './cpu-burn.js';
import type { RankContext } from './harness.js';
import type { WireFormat } from './wire-dtype.js';

export interface BenchRankArgs {
  algorithms: AllReduceAlgorithm[];
  sizes: number[];            // bytes, multiples of 4
  iters?: number;             // fixed count; default by size and time budget
  budgetMs: number;           // time budget per (algorithm, size) when iters is not fixed
  warmupMs: number;           // warm-up per algorithm before the first size
  chunkBytes?: number;
  wire?: WireFormat;
  deadlineMs: number;
  /** CPU work (us of CPU time) before each timed all-reduce, timed with it: a decode segment. */
  computeUs?: number;
}

export interface BenchCell {
  algorithm: AllReduceAlgorithm;
  ran: string;                // the algorithm that ran (what auto picked)
  bytes: number;
  timesUs: number[];          // [iters] this rank's time of each iteration
  cpuUs: number;              // this rank's CPU time (user + system) per iteration
  ok: boolean;                // every result on this rank was exact
}

/** Iterations by size when not fixed: like the reference measurements (200 / 50 / 20 / 10). */
export function defaultIters(bytes: number): number {
  return bytes <= 64 << 10 ? 200 : bytes <= 1 << 20 ? 50 : bytes <= 16 << 20 ? 20 : 10;
}

function warmupIters(bytes: number): number {
  return bytes <= 1 << 20 ? 10 : bytes <= 16 << 20 ? 2 : 1;
}

/** The fewest timed iterations when the time budget would allow fewer. */
function minIters(bytes: number): number {
  return bytes <= 16 << 20 ? 5 : 3;
}

// Small integers: every summation order gives the exact sum, so `ok` checks the data, not the rounding.
function pattern(i: number, rank: number): number {
  return ((i * 7 + rank * 13) % 17) - 8;
}

export async function benchAllReduce(ctx: RankContext): Promise<BenchCell[]> {
  const a = ctx.args as BenchRankArgs;
  const burner = (a.computeUs ?? 0) > 0 ? CpuBurner.calibrate() : undefined;
  const comm = await ctx.connect({ chunkBytes: a.chunkBytes, deadlineMs: a.deadlineMs });
  const cells: BenchCell[] = [];
  const itersBox = new Float32Array(1);
  // Warm every algorithm up at the smallest size for warmupMs, in batches whose
  // continuation rank 0 decides: V8 compiles a function with its optimizing
  // tier only after thousands of calls, and a small all-reduce runs 3-4x slower
  // before that (measured: ~3000 calls to reach steady state).
  const smallest = new Float32Array(Math.max(1, (a.sizes[0] ?? 4) / 4));
  const scratch = new Float32Array(smallest.length);
  for (const algorithm of a.algorithms) {
    const w0 = performance.now();
    do {
      for (let i = 0; i < 200; i++) await comm.allReduce(smallest, { algorithm, output: scratch, wire: a.wire });
      itersBox[0] = performance.now() - w0 < a.warmupMs ? 1 : 0;
      await comm.broadcast(itersBox, 0);
    } while (itersBox[0] === 1);
  }
  for (const algorithm of a.algorithms) {
    for (const bytes of a.sizes) {
      const n = bytes / 4;
      const x = new Float32Array(n);
      const expected = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        x[i] = pattern(i, ctx.rank);
        let s = 0;
        for (let r = 0; r < ctx.worldSize; r++) s += pattern(i, r);
        expected[i] = s;
      }
      const y = new Float32Array(n);
      const opts = { algorithm, output: y, wire: a.wire };
      let ok = true;
      const w0 = performance.now();
      const warm = warmupIters(bytes);
      for (let i = 0; i < warm; i++) await comm.allReduce(x, opts);
      // Rank 0 decides the iteration count from its warm-up time, so all ranks agree.
      itersBox[0] = a.iters ?? Math.max(minIters(bytes), Math.min(defaultIters(bytes), Math.floor(a.budgetMs / ((performance.now() - w0) / warm))));
      await comm.broadcast(itersBox, 0);
      const iters = itersBox[0] as number;
      const timesUs: number[] = [];
      let cpuUs = 0;
      for (let it = 0; it < iters; it++) {
        y.fill(NaN);
        await comm.barrier();
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        burner?.burn(a.computeUs ?? 0);
        await comm.allReduce(x, opts);
        timesUs.push((performance.now() - t0) * 1000);
        const cpu = process.cpuUsage(cpu0);
        cpuUs += cpu.user + cpu.system;
        ok &&= equal(y, expected);
      }
      cells.push({ algorithm, ran: comm.allReduceAlgorithmFor(n, algorithm), bytes, timesUs, cpuUs: cpuUs / iters, ok });
      await comm.barrier();
    }
  }
  await comm.close();
  return cells;
}

function equal(a: Float32Array, b: Float32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
