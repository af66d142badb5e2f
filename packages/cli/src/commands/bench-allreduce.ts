// `octoserve bench allreduce`: N real rank processes on loopback, every
// algorithm and size, an nccl-tests-style table per algorithm, optional JSON.
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import {
  ALL_REDUCE_ALGORITHMS, DEFAULT_RANK_FLAGS, deriveAutoRules, formatAutoRules, formatBenchTables, runAllReduceBench,
} from '@octoserve/collectives';
import type { AllReduceAlgorithm, WireFormat } from '@octoserve/collectives';
import { UsageError } from '../errors.js';
import type { Command } from './command.js';
import { choiceFlag, numberFlag, runWithFlags, stringFlag } from './flags.js';

const ALGO_CHOICES = [...ALL_REDUCE_ALGORITHMS, 'auto', 'all'] as const;

const HELP = `usage: octoserve bench allreduce [--ranks N] [--algo ALGO] [--min-bytes SIZE] [--max-bytes SIZE] [options]

Starts N rank processes on 127.0.0.1, each one Communicator (gRPC streams to every other rank),
and all-reduces (float32 sum) messages from --min-bytes to --max-bytes. Per algorithm it prints
an nccl-tests-style table:
  bytes, floats   message size
  ran             the algorithm that ran (what auto picked)
  p50/p99 us      per iteration the slowest rank's time, then the median / 99th percentile
  algbw GB/s      bytes / p50
  busbw GB/s      algbw x 2(N-1)/N, comparable across world sizes
  cpu us          CPU time per all-reduce, all ranks together
  ok              every rank's every result equal to the exact sum
With --algo all it also prints the auto rules this run supports (fastest p50 per size), in the
form of auto-table.ts. Each algorithm and size is warmed up first; ranks agree on the iteration count.

options:
  --ranks N          rank processes, 2-64 (default 8)
  --algo ALGO        ${ALGO_CHOICES.join(', ')} (default all)
  --min-bytes SIZE   smallest message (default 1K); SIZE is bytes or with K, M, G (x1024)
  --max-bytes SIZE   largest message (default 64M)
  --factor F         size step, 2-16 (default 4)
  --iters K          timed iterations per size (default 200 up to 64K, 50 up to 1M, 20 up to 16M,
                     10 above; fewer when a size would run past --budget-ms, but at least 5, 3 above 16M)
  --budget-ms MS     time per algorithm and size when --iters is not given (default 2000)
  --warmup-ms MS     warm-up per algorithm at the smallest size before timing (default 3000): V8
                     optimizes a function only after thousands of calls, and until then a small
                     all-reduce costs 3-4x the CPU
  --rank-flags FLAGS Node/V8 flags of the rank processes (default '${DEFAULT_RANK_FLAGS.join(' ')}':
                     V8 optimizes hot code after 1/4 of its usual budget, so within the warm-up;
                     '' for V8's defaults)
  --chunk SIZE       most payload bytes per frame (default 1M)
  --wire FMT         element encoding on the wire: f32, bf16 or f16 (default f32; sums stay float32)
  --json FILE        also write {"ranks":N,"rows":[{"algo","bytes","p50_us","p99_us","algbw_gbs","busbw_gbs","ok",...}]}
  -h, --help         show this help

Example: octoserve bench allreduce --ranks 8 --algo all --min-bytes 1K --max-bytes 64M --json ar.json`;

const OPTIONS = {
  ranks: { type: 'string' }, algo: { type: 'string' }, 'min-bytes': { type: 'string' }, 'max-bytes': { type: 'string' },
  factor: { type: 'string' }, iters: { type: 'string' }, 'budget-ms': { type: 'string' }, 'warmup-ms': { type: 'string' }, chunk: { type: 'string' },
  wire: { type: 'string' }, json: { type: 'string' }, 'rank-flags': { type: 'string' },
} as const;

const UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** "64M" → 67108864, "1K" → 1024, "4096" → 4096 (K/M/G, KB/KiB… all powers of 1024); a multiple of 4 bytes. */
export function parseSize(text: string, flag: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMG]?)(?:I?B)?\s*$/i.exec(text);
  const unit = m === null ? undefined : UNITS[(m[2] ?? '').toUpperCase()];
  if (m === null || unit === undefined) throw new UsageError(`--${flag} must be a size like 4096, 1K or 64M, got '${text}'`);
  const bytes = Math.round(Number(m[1]) * unit);
  if (bytes < 4 || bytes % 4 !== 0) throw new UsageError(`--${flag} must be a positive multiple of 4 bytes (whole floats), got '${text}' = ${bytes} bytes`);
  return bytes;
}

function sizeFlag(flags: Record<string, string | boolean | undefined>, name: string, fallback: string): number {
  return parseSize(stringFlag(flags, name) ?? fallback, name);
}

export const benchAllReduceCommand: Command = {
  summary: 'all-reduce latency and bandwidth on N local ranks, per algorithm',
  run: (argv) => runWithFlags('bench allreduce', HELP, argv, OPTIONS, async (flags) => {
    const ranks = numberFlag(flags, 'ranks', 8, { min: 2, max: 64, integer: true });
    const algo = choiceFlag(flags, 'algo', ALGO_CHOICES, 'all');
    const minBytes = sizeFlag(flags, 'min-bytes', '1K');
    const maxBytes = sizeFlag(flags, 'max-bytes', '64M');
    if (maxBytes < minBytes) throw new UsageError(`--max-bytes (${maxBytes}) is below --min-bytes (${minBytes})`);
    const factor = numberFlag(flags, 'factor', 4, { min: 2, max: 16, integer: true });
    const itersFlag = stringFlag(flags, 'iters');
    const iters = itersFlag === undefined ? undefined : numberFlag(flags, 'iters', 0, { min: 1, integer: true });
    const budgetMs = numberFlag(flags, 'budget-ms', 2000, { min: 1 });
    const warmupMs = numberFlag(flags, 'warmup-ms', 3000, { min: 0 });
    const chunkBytes = sizeFlag(flags, 'chunk', '1M');
    const wire = choiceFlag<WireFormat>(flags, 'wire', ['f32', 'bf16', 'f16'], 'f32');
    const json = stringFlag(flags, 'json');
    const rankFlagsText = stringFlag(flags, 'rank-flags');
    const rankFlags = rankFlagsText === undefined ? DEFAULT_RANK_FLAGS : rankFlagsText.split(/\s+/).filter((f) => f !== '');
    const algorithms: AllReduceAlgorithm[] = algo === 'all' ? [...ALL_REDUCE_ALGORITHMS, 'auto'] : [algo];

    const load = (): string => loadavg().map((l) => l.toFixed(2)).join(' ');
    process.stdout.write(`# octoserve bench allreduce: ${ranks} ranks on 127.0.0.1, float32 sum, ${wire} on the wire, ` +
      `chunk ${chunkBytes} B, node ${process.version} ${rankFlags.join(' ')}; load average at start: ${load()}\n`);
    const result = await runAllReduceBench({ ranks, algorithms, minBytes, maxBytes, factor, iters, budgetMs, warmupMs, chunkBytes, wire, rankFlags });
    process.stdout.write(formatBenchTables(result) + '\n');
    if (algo === 'all') process.stdout.write(formatAutoRules(ranks, deriveAutoRules(result)) + '\n');
    process.stdout.write(`# load average at end: ${load()}\n`);
    if (json !== undefined) writeFileSync(json, JSON.stringify(result, null, 1) + '\n');
    return result.rows.every((r) => r.ok) ? 0 : 1;
  }),
};
