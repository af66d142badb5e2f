// `octoserve bench allreduce`: N real rank processes on loopback, every
// algorithm and size, an nccl-tests-style table per algorithm, optional JSON.
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import {
  ALL_REDUCE_ALGORITHMS, DEFAULT_RANK_FLAGS, buildMpiPeer, deriveAutoRules, formatAutoRules, formatBenchTables,
  resolveFabric, runAllReduceBench, runMpiPeer,
} from '@octoserve/collectives';
import type { AllReduceAlgorithm, AllReduceBenchResult, Fabric, MpiRow, MpiTransport, WireFormat } from '@octoserve/collectives';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { fabricListFlag } from './fabric-flag.js';
import { action, choiceFlag, flag, newCommand, numberFlag } from './flags.js';
import { fixed, formatTable } from './table.js';

const ALGO_CHOICES = [...ALL_REDUCE_ALGORITHMS, 'auto', 'all'] as const;

const DESCRIPTION = `Starts N rank processes on 127.0.0.1, each one Communicator (on the fabric --fabric names),
and all-reduces (float32 sum) messages from --min-bytes to --max-bytes. Per algorithm it prints
an nccl-tests-style table:
  bytes, floats   message size
  ran             the algorithm that ran (what auto picked)
  p50/p99 us      per iteration (each starts after a barrier, as Open MPI's timing program's)
                  the slowest rank's time, then the median / 99th percentile
  algbw GB/s      bytes / p50
  busbw GB/s      algbw x 2(N-1)/N, comparable across world sizes
  cpu us          CPU time in the all-reduce, all ranks together (with --compute-us, the work too)
  ok              every rank's every result equal to the exact sum
With --algo all it also prints the auto rules this run supports (fastest p50 per size), in the
form of auto-table.ts. Each algorithm and size is warmed up first; ranks agree on the iteration count.
--compute-us US puts that much CPU work on every rank before each timed all-reduce, as the matmuls
of a decode segment: p50 is then a segment's time, contention for the cores included.

--fabric grpc,socket runs every pass once per fabric, side by side. --compare-mpi also builds a
small MPI timing program of octoserve's own (when mpicc and mpirun are on the PATH) and runs it
on as many ranks over the same sizes, over TCP loopback and over Open MPI's shared memory,
interleaved with octoserve's passes (--rounds of each), then prints per size the medians and
octoserve's time over MPI's.`;

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
  computeUs?: number;
  chunk?: number;
  wire?: WireFormat;
  fabric?: Fabric[];
  compareMpi?: boolean;
  rounds?: number;
  json?: string;
}

/** The median of `xs` (NaN when empty). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 === 1 ? s[(n - 1) / 2] as number : ((s[n / 2 - 1] as number) + (s[n / 2] as number)) / 2;
}

/** One size of the side-by-side table: octoserve's p50 per fabric and MPI's per transport, medians over the rounds. */
interface CompareRow {
  bytes: number;
  octoserve_p50_us: Record<string, number>;
  ran: Record<string, string>;
  mpi_p50_us: Partial<Record<MpiTransport, number>>;
}

/** The rows to compare: per fabric, the all-reduce octoserve would run (auto when measured, else the one algorithm). */
function compareRows(passes: Map<Fabric, AllReduceBenchResult[]>, mpi: Map<MpiTransport, MpiRow[][]>, algorithm: string): CompareRow[] {
  const first = [...passes.values()][0]?.[0];
  const sizes = [...new Set((first?.rows ?? []).map((r) => r.bytes))];
  return sizes.map((bytes) => {
    const row: CompareRow = { bytes, octoserve_p50_us: {}, ran: {}, mpi_p50_us: {} };
    for (const [fabric, results] of passes) {
      const cells = results.map((res) => res.rows.find((r) => r.bytes === bytes && r.algo === algorithm));
      row.octoserve_p50_us[fabric] = median(cells.map((c) => c?.p50_us ?? NaN));
      row.ran[fabric] = [...new Set(cells.map((c) => c?.ran ?? '?'))].join('/');
    }
    for (const [transport, rounds] of mpi) row.mpi_p50_us[transport] = median(rounds.map((rs) => rs.find((r) => r.bytes === bytes)?.p50_us ?? NaN));
    return row;
  });
}

function formatCompare(rows: readonly CompareRow[], fabrics: readonly Fabric[], transports: readonly MpiTransport[], ranks: number): string {
  const busbw = (bytes: number, us: number): string => fixed((bytes / (us * 1e-6)) * (2 * (ranks - 1)) / ranks / 1e9, 3);
  const header = ['bytes', ...fabrics.flatMap((f) => [`${f} p50 us`, `${f} ran`]), ...transports.map((t) => `MPI ${t} p50 us`),
    ...fabrics.flatMap((f) => transports.map((t) => `${f}/MPI ${t}`)), ...fabrics.map((f) => `${f} busbw`), ...transports.map((t) => `MPI ${t} busbw`)];
  const cells = rows.map((r) => [
    r.bytes, ...fabrics.flatMap((f) => [fixed(r.octoserve_p50_us[f] ?? NaN, 1), r.ran[f] ?? '?']), ...transports.map((t) => fixed(r.mpi_p50_us[t] ?? NaN, 1)),
    ...fabrics.flatMap((f) => transports.map((t) => `${fixed((r.octoserve_p50_us[f] ?? NaN) / (r.mpi_p50_us[t] ?? NaN), 2)}x`)),
    ...fabrics.map((f) => busbw(r.bytes, r.octoserve_p50_us[f] ?? NaN)), ...transports.map((t) => busbw(r.bytes, r.mpi_p50_us[t] ?? NaN)),
  ]);
  return formatTable(header, cells);
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
    .addOption(numberFlag('--compute-us US', 'CPU work per rank before each timed all-reduce, timed with it (default 0): a decode segment, ' +
      'the matmuls between two all-reduces, so that p50 is what a segment costs when ranks share cores', { min: 0 }))
    .addOption(sizeFlag('--chunk SIZE', 'most payload bytes per frame (default 1M)'))
    .addOption(choiceFlag('--wire FMT', 'element encoding on the wire: f32, bf16 or f16 (default f32; sums stay float32)', ['f32', 'bf16', 'f16']))
    .addOption(fabricListFlag())
    .addOption(flag('--compare-mpi', 'also time Open MPI\'s MPI_Allreduce on as many ranks over the same sizes (TCP loopback and shared ' +
      'memory), interleaved with these passes, and print the ratio per size; without mpicc/mpirun it says so and runs alone'))
    .addOption(numberFlag('--rounds R', 'passes of each side with --compare-mpi or several fabrics; the table shows medians (default 3 then, else 1)', { min: 1, max: 20, integer: true }))
    .addOption(flag('--json FILE', 'also write {"ranks":N,"rows":[{"algo","bytes","p50_us","p99_us","algbw_gbs","busbw_gbs","ok",...}]} ' +
      '(with several fabrics or --compare-mpi: {"passes":{fabric:[...]}, "mpi":{...}, "compare":[...]})'));
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

    const fabrics: (Fabric | undefined)[] = flags.fabric ?? [undefined];
    const peer = flags.compareMpi === true ? buildMpiPeer() : undefined;
    const transports: MpiTransport[] = peer !== undefined && 'binary' in peer ? ['tcp', 'shm'] : [];
    const sideBySide = fabrics.length > 1 || transports.length > 0;
    const rounds = flags.rounds ?? (sideBySide ? 3 : 1);

    const load = (): string => loadavg().map((l) => l.toFixed(2)).join(' ');
    process.stdout.write(`# octoserve bench allreduce: ${ranks} ranks on 127.0.0.1, float32 sum, ${wire} on the wire, ` +
      `chunk ${chunkBytes} B, node ${process.version} ${rankFlags.join(' ')}; load average at start: ${load()}\n`);
    if (peer !== undefined && 'missing' in peer) process.stdout.write(`# --compare-mpi: ${peer.missing}; octoserve alone\n`);
    const passes = new Map<Fabric, AllReduceBenchResult[]>();
    const mpi = new Map<MpiTransport, MpiRow[][]>(transports.map((t) => [t, []]));
    let ok = true;
    for (let round = 0; round < rounds; round++) {
      for (const fabric of fabrics) {
        const result = await runAllReduceBench({ ranks, algorithms, minBytes, maxBytes, factor, iters, budgetMs, warmupMs, chunkBytes, wire, rankFlags, computeUs: flags.computeUs, ...(fabric === undefined ? {} : { fabric }) });
        const name = resolveFabric(fabric);
        passes.set(name, [...(passes.get(name) ?? []), result]);
        ok &&= result.rows.every((r) => r.ok);
        if (rounds > 1) process.stdout.write(`# round ${round + 1}/${rounds}, fabric ${name}:\n`);
        process.stdout.write(formatBenchTables(result) + '\n');
        if (algo === 'all') process.stdout.write(formatAutoRules(ranks, deriveAutoRules(result)) + '\n');
      }
      if (peer !== undefined && 'binary' in peer) {
        // the same sizes with as many iterations as octoserve's pass took
        const sizes = ([...passes.values()][0]?.at(-1)?.rows ?? []).filter((r, i, all) => all.findIndex((x) => x.bytes === r.bytes) === i).map((r) => ({ bytes: r.bytes, iters: r.iters }));
        for (const t of transports) mpi.get(t)?.push(runMpiPeer(peer.binary, ranks, t, sizes));
      }
    }
    let compare: CompareRow[] | undefined;
    if (sideBySide) {
      compare = compareRows(passes, mpi, algorithms.includes('auto') ? 'auto' : algorithms[0] as string);
      process.stdout.write(`# side by side, medians of ${rounds} round(s): octoserve's p50 per fabric${transports.length > 0 ? ' and Open MPI\'s per transport, with octoserve over MPI' : ''}\n`);
      process.stdout.write(formatCompare(compare, [...passes.keys()], transports, ranks) + '\n');
    }
    process.stdout.write(`# load average at end: ${load()}\n`);
    if (json !== undefined) {
      const single = [...passes.values()][0]?.[0];
      writeFileSync(json, JSON.stringify(sideBySide ? { ranks, passes: Object.fromEntries(passes), mpi: Object.fromEntries(mpi), compare } : single, null, 1) + '\n');
    }
    return ok ? 0 : 1;
  });
}
