// `octoserve bench allreduce`: N real rank processes on loopback, every
// algorithm and size, an nccl-tests-style table per algorithm, optional JSON.
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import {
  ALL_REDUCE_ALGORITHMS, DEFAULT_RANK_FLAGS, deriveAutoRules, formatAutoRules, formatBenchTables, runAllReduceBench,
} from '@octoserve/collectives';
import type { AllReduceAlgorithm, WireFormat } from '@octoserve/collectives';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { action, choiceFlag, flag, newCommand, numberFlag } from './flags.js';

const ALGO_CHOICES = [...ALL_REDUCE_ALGORITHMS, 'auto', 'all'] as const;

const DESCRIPTION = `Starts N rank processes on 127.0.0.1, each one Communicator (gRPC streams to every other rank),
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
form of auto-table.ts. Each algorithm and size is warmed up first; ranks agree on the iteration count.`;

const EPILOG = 'Example: octoserve bench allreduce --ranks 8 --algo all --min-bytes 1K --max-bytes 64M --json ar.json';

interface AllReduceFlags {
  ranks?: number;
  algo?: (typeof ALGO_CHOICES)[number];
  minBytes?: number;
  maxBytes?: number;
  factor?: number;
  iters?: number;
  budgetMs?: number;
  warmupMs?: number;
  rankFlags?: string;
  chunk?: number;
  wire?: WireFormat;
  json?: string;
}

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

/** A size flag ('--min-bytes SIZE'). */
function sizeFlag(term: string, description: string): ReturnType<typeof flag> {
  const name = term.slice(2, term.indexOf(' '));
  return flag(term, description).argParser((raw: string) => parseSize(raw, name));
}

export function benchAllReduceCommand(): Command {
  const cmd = newCommand('allreduce', {
    usage: '[--ranks N] [--algo ALGO] [--min-bytes SIZE] [--max-bytes SIZE] [options]',
    summary: 'all-reduce latency and bandwidth on N local ranks, per algorithm',
    description: DESCRIPTION,
    epilog: EPILOG,
  })
    .addOption(numberFlag('--ranks N', 'rank processes, 2-64 (default 8)', { min: 2, max: 64, integer: true }))
    .addOption(choiceFlag('--algo ALGO', `${ALGO_CHOICES.join(', ')} (default all)`, ALGO_CHOICES))
    .addOption(sizeFlag('--min-bytes SIZE', 'smallest message (default 1K); SIZE is bytes or with K, M, G (x1024)'))
    .addOption(sizeFlag('--max-bytes SIZE', 'largest message (default 64M)'))
    .addOption(numberFlag('--factor F', 'size step, 2-16 (default 4)', { min: 2, max: 16, integer: true }))
    .addOption(numberFlag('--iters K', 'timed iterations per size (default 200 up to 64K, 50 up to 1M, 20 up to 16M, 10 above; fewer when a ' +
      'size would run past --budget-ms, but at least 5, 3 above 16M)', { min: 1, integer: true }))
    .addOption(numberFlag('--budget-ms MS', 'time per algorithm and size when --iters is not given (default 2000)', { min: 1 }))
    .addOption(numberFlag('--warmup-ms MS', 'warm-up per algorithm at the smallest size before timing (default 3000): V8 optimizes a function ' +
      'only after thousands of calls, and until then a small all-reduce costs 3-4x the CPU', { min: 0 }))
    .addOption(flag('--rank-flags FLAGS', `Node/V8 flags of the rank processes (default '${DEFAULT_RANK_FLAGS.join(' ')}': V8 optimizes hot code ` +
      "after 1/4 of its usual budget, so within the warm-up; '' for V8's defaults)"))
    .addOption(sizeFlag('--chunk SIZE', 'most payload bytes per frame (default 1M)'))
    .addOption(choiceFlag('--wire FMT', 'element encoding on the wire: f32, bf16 or f16 (default f32; sums stay float32)', ['f32', 'bf16', 'f16']))
    .addOption(flag('--json FILE', 'also write {"ranks":N,"rows":[{"algo","bytes","p50_us","p99_us","algbw_gbs","busbw_gbs","ok",...}]}'));
  return action<AllReduceFlags>(cmd, async (flags) => {
    const ranks = flags.ranks ?? 8;
    const algo = flags.algo ?? 'all';
    const minBytes = flags.minBytes ?? parseSize('1K', 'min-bytes');
    const maxBytes = flags.maxBytes ?? parseSize('64M', 'max-bytes');
    if (maxBytes < minBytes) throw new UsageError(`--max-bytes (${maxBytes}) is below --min-bytes (${minBytes})`);
    const factor = flags.factor ?? 4;
    const iters = flags.iters;
    const budgetMs = flags.budgetMs ?? 2000;
    const warmupMs = flags.warmupMs ?? 3000;
    const chunkBytes = flags.chunk ?? parseSize('1M', 'chunk');
    const wire = flags.wire ?? 'f32';
    const json = flags.json;
    const rankFlags = flags.rankFlags === undefined ? DEFAULT_RANK_FLAGS : flags.rankFlags.split(/\s+/).filter((f) => f !== '');
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
  });
}
