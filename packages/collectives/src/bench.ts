// `octoserve bench allreduce`: N real processes on loopback, each a
// Communicator, time every algorithm and size; this side merges the ranks'
// times the nccl-tests way (per iteration the slowest rank, then p50/p99) and
// formats the table, the JSON and the crossover table `auto` would use.
import { fileURLToPath } from 'node:url';
import { ALL_REDUCE_ALGORITHMS } from './auto-select.js';
import type { AllReduceAlgorithm, AllReduceAlgorithmName, AutoRule } from './auto-select.js';
import type { BenchCell, BenchRankArgs } from './bench-rank.js';
import type { Fabric } from './fabric.js';
import { runRanks } from './harness.js';
import type { WireFormat } from './wire-dtype.js';

export interface AllReduceBenchOptions {
  ranks: number;
  algorithms: AllReduceAlgorithm[];
  minBytes: number;
  maxBytes: number;
  factor?: number;            // size step (4)
  iters?: number;
  budgetMs?: number;          // per (algorithm, size) when iters is not fixed (2 000)
  warmupMs?: number;          // per algorithm before its first size (3 000)
  chunkBytes?: number;
  wire?: WireFormat;
  deadlineMs?: number;
  env?: NodeJS.ProcessEnv;
  /** The fabric the ranks run on (default: OCTOSERVE_FABRIC of `env` or of this process, else grpc). */
  fabric?: Fabric;
  /** Node/V8 flags of the rank processes (default: DEFAULT_RANK_FLAGS). */
  rankFlags?: string[];
  /** CPU work per rank (us of CPU time) before each timed all-reduce, timed with it (default 0). */
  computeUs?: number;
}

/**
 * V8 compiles a function with its optimizing tier only after its interrupt
 * budget ran out a few times (~3000 calls of a small function); until then a
 * small all-reduce costs 3-4x the CPU. A 4x smaller budget gets the ranks to
 * steady state within the warm-up; it changes when code is optimized, not the
 * optimized code.
 */
export const DEFAULT_RANK_FLAGS = ['--interrupt-budget=16384'];

export interface AllReduceBenchRow {
  algo: string;
  ran: string;                // what ran (auto's pick)
  bytes: number;
  floats: number;
  iters: number;
  p50_us: number;
  p99_us: number;
  /** Mean of the per-iteration slowest-rank times: what a run of many such steps takes on average, tail included. */
  mean_us: number;
  algbw_gbs: number;          // bytes / p50
  busbw_gbs: number;          // algbw * 2(N-1)/N
  cpu_us: number;             // CPU time in each all-reduce, summed over ranks
  ok: boolean;                // exact on every rank, every iteration
}

export interface AllReduceBenchResult {
  ranks: number;
  rows: AllReduceBenchRow[];
}

/** Sizes from min to max (bytes), multiplied by `factor`, each rounded to a multiple of 4. */
export function benchSizes(minBytes: number, maxBytes: number, factor: number): number[] {
  const sizes: number[] = [];
  for (let b = minBytes; b <= maxBytes; b *= factor) sizes.push(Math.max(4, Math.floor(b / 4) * 4));
  return sizes;
}

function percentile(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

export async function runAllReduceBench(o: AllReduceBenchOptions): Promise<AllReduceBenchResult> {
  const args: BenchRankArgs = {
    algorithms: o.algorithms, sizes: benchSizes(o.minBytes, o.maxBytes, o.factor ?? 4), iters: o.iters,
    budgetMs: o.budgetMs ?? 2_000, warmupMs: o.warmupMs ?? 3_000, chunkBytes: o.chunkBytes, wire: o.wire, deadlineMs: o.deadlineMs ?? 60_000,
    computeUs: o.computeUs,
  };
  // Each algorithm gets its own processes: a rank that has just moved 64 MiB
  // messages (large heaps, fragmented malloc arenas) runs small ones slower,
  // which would penalize whichever algorithm came later.
  const cells: BenchCell[][] = Array.from({ length: o.ranks }, () => []);
  for (const algorithm of o.algorithms) {
    const outcomes = await runRanks({
      worldSize: o.ranks, module: fileURLToPath(new URL('./bench-rank.js', import.meta.url)), scenario: 'benchAllReduce',
      args: { ...args, algorithms: [algorithm] }, timeoutMs: 30 * 60_000, env: o.env, fabric: o.fabric, execArgv: o.rankFlags ?? DEFAULT_RANK_FLAGS,
    });
    const failed = outcomes.find((r) => !r.ok);
    if (failed !== undefined) throw new Error(`bench rank ${failed.rank} failed (${algorithm}): ${failed.error?.message ?? 'no result'}`);
    outcomes.forEach((r, rank) => (cells[rank] as BenchCell[]).push(...(r.value as BenchCell[])));
  }
  const rows: AllReduceBenchRow[] = [];
  const first = cells[0] as BenchCell[];
  for (let k = 0; k < first.length; k++) {
    const c = first[k] as BenchCell;
    const iters = c.timesUs.length;
    const maxed: number[] = [];
    for (let i = 0; i < iters; i++) maxed.push(Math.max(...cells.map((rc) => (rc[k] as BenchCell).timesUs[i] as number)));
    maxed.sort((a, b) => a - b);
    const p50 = percentile(maxed, 50);
    const algbw = c.bytes / (p50 * 1000);
    rows.push({
      algo: c.algorithm, ran: c.ran, bytes: c.bytes, floats: c.bytes / 4, iters,
      p50_us: round(p50, 1), p99_us: round(percentile(maxed, 99), 1), mean_us: round(maxed.reduce((a, b) => a + b, 0) / iters, 1),
      algbw_gbs: round(algbw, 4), busbw_gbs: round((algbw * 2 * (o.ranks - 1)) / o.ranks, 4),
      cpu_us: round(cells.reduce((sum, rc) => sum + (rc[k] as BenchCell).cpuUs, 0), 0),
      ok: cells.every((rc) => (rc[k] as BenchCell).ok),
    });
  }
  return { ranks: o.ranks, rows };
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

export function formatBytes(b: number): string {
  if (b >= 1 << 20 && b % (1 << 20) === 0) return `${b / (1 << 20)}M`;
  if (b >= 1024 && b % 1024 === 0) return `${b / 1024}K`;
  return `${b}`;
}

/** One nccl-tests-style table per algorithm. */
export function formatBenchTables(result: AllReduceBenchResult): string {
  const lines: string[] = [];
  const algos = [...new Set(result.rows.map((r) => r.algo))];
  for (const algo of algos) {
    lines.push(`# all-reduce, algorithm ${algo}, ${result.ranks} ranks, float32 sum`);
    lines.push(`#${'bytes'.padStart(11)} ${'floats'.padStart(10)} ${'ran'.padStart(8)} ${'iters'.padStart(6)} ${'p50 us'.padStart(10)} ${'p99 us'.padStart(10)} ${'algbw GB/s'.padStart(11)} ${'busbw GB/s'.padStart(11)} ${'cpu us'.padStart(8)} ${'ok'.padStart(4)}`);
    for (const r of result.rows.filter((x) => x.algo === algo)) {
      lines.push(` ${String(r.bytes).padStart(11)} ${String(r.floats).padStart(10)} ${r.ran.padStart(8)} ${String(r.iters).padStart(6)} ` +
        `${r.p50_us.toFixed(1).padStart(10)} ${r.p99_us.toFixed(1).padStart(10)} ${r.algbw_gbs.toFixed(3).padStart(11)} ` +
        `${r.busbw_gbs.toFixed(3).padStart(11)} ${r.cpu_us.toFixed(0).padStart(8)} ${(r.ok ? 'ok' : 'FAIL').padStart(4)}`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

/**
 * The auto rules this run supports: for each size the fastest measured
 * algorithm by p50 (auto's own rows excluded), merged into ranges. A size
 * between two measured sizes goes to the smaller one's algorithm.
 */
export function deriveAutoRules(result: AllReduceBenchResult): AutoRule[] {
  const named = result.rows.filter((r) => (ALL_REDUCE_ALGORITHMS as readonly string[]).includes(r.algo) && r.ok);
  const sizes = [...new Set(named.map((r) => r.bytes))].sort((a, b) => a - b);
  const rules: AutoRule[] = [];
  for (let i = 0; i < sizes.length; i++) {
    const at = named.filter((r) => r.bytes === sizes[i]);
    if (at.length === 0) continue;
    const best = at.reduce((a, b) => (b.p50_us < a.p50_us ? b : a));
    const maxBytes = i + 1 < sizes.length ? (sizes[i + 1] as number) - 1 : Infinity;
    const last = rules[rules.length - 1];
    if (last !== undefined && last.algorithm === best.algo) last.maxBytes = maxBytes;
    else rules.push({ maxBytes, algorithm: best.algo as AllReduceAlgorithmName });
  }
  return rules;
}

export function formatAutoRules(ranks: number, rules: readonly AutoRule[]): string {
  const parts = rules.map((r) => `{ maxBytes: ${r.maxBytes === Infinity ? 'Infinity' : r.maxBytes}, algorithm: '${r.algorithm}' }`);
  return `# auto rules measured in this run (for auto-table.ts):\n  ${ranks}: [${parts.join(', ')}],`;
}
