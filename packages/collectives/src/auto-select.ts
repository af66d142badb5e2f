// Which all-reduce algorithm `auto` runs for a message size and world size,
// from a small table of crossover points measured by
// `octoserve bench allreduce --algo all` (see auto-table.ts), and how a forced
// choice (option or OCTOSERVE_ALLREDUCE_ALGO) is read.
import { CollectiveError } from './errors.js';

export const ALL_REDUCE_ALGORITHMS = ['ring', 'oneshot', 'twoshot', 'star', 'tree', 'doubling', 'shm'] as const;
export type AllReduceAlgorithmName = (typeof ALL_REDUCE_ALGORITHMS)[number];
export type AllReduceAlgorithm = AllReduceAlgorithmName | 'auto';

/** The algorithms that send messages over a fabric's links (every one but shm, which needs a shared segment). */
export const MESH_ALGORITHMS: readonly AllReduceAlgorithmName[] = ALL_REDUCE_ALGORITHMS.filter((a) => a !== 'shm');

/** The algorithms a communicator of `fabric` runs: shm only on the shm fabric. */
export function algorithmsOn(fabric: string): readonly AllReduceAlgorithmName[] {
  return fabric === 'shm' ? ALL_REDUCE_ALGORITHMS : MESH_ALGORITHMS;
}

export const ALGORITHM_ENV = 'OCTOSERVE_ALLREDUCE_ALGO';

/** Use `algorithm` for messages of at most `maxBytes` bytes (rules sorted by maxBytes; the last is Infinity). */
export interface AutoRule {
  maxBytes: number;
  algorithm: AllReduceAlgorithmName;
}

/** Rules per measured world size. */
export type AutoTable = Readonly<Record<number, readonly AutoRule[]>>;

export function parseAlgorithm(value: string, source: string): AllReduceAlgorithm {
  if (value === 'auto' || (ALL_REDUCE_ALGORITHMS as readonly string[]).includes(value)) return value as AllReduceAlgorithm;
  throw new CollectiveError('INVALID_ARGUMENT', `${source} is '${value}'; expected auto, ${ALL_REDUCE_ALGORITHMS.join(', ')}`);
}

/** The algorithm named by OCTOSERVE_ALLREDUCE_ALGO, or undefined when it is unset or empty. */
export function algorithmFromEnv(env: NodeJS.ProcessEnv = process.env): AllReduceAlgorithm | undefined {
  const v = env[ALGORITHM_ENV];
  return v === undefined || v === '' ? undefined : parseAlgorithm(v, ALGORITHM_ENV);
}

/** The rules for `worldSize`: its own row, else the nearest measured world size (the larger on a tie). */
export function rulesFor(table: AutoTable, worldSize: number): readonly AutoRule[] {
  const sizes = Object.keys(table).map(Number).sort((a, b) => a - b);
  if (sizes.length === 0) throw new CollectiveError('INVALID_ARGUMENT', 'the auto table is empty');
  let best = sizes[0] as number;
  for (const w of sizes) if (Math.abs(w - worldSize) <= Math.abs(best - worldSize)) best = w;
  return table[best] as readonly AutoRule[];
}

/** The algorithm `rules` (one world size's) pick for a message of `bytes` bytes. */
export function pickAlgorithm(rules: readonly AutoRule[], bytes: number): AllReduceAlgorithmName {
  for (const r of rules) if (bytes <= r.maxBytes) return r.algorithm;
  return (rules[rules.length - 1] as AutoRule).algorithm;
}

/** The algorithm auto runs for a message of `bytes` bytes. */
export function selectAllReduce(table: AutoTable, worldSize: number, bytes: number): AllReduceAlgorithmName {
  return pickAlgorithm(rulesFor(table, worldSize), bytes);
}

