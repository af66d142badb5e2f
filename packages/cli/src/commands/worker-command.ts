// How a local cluster starts its workers: this CLI again, as `octoserve worker`.
import { fileURLToPath } from 'node:url';
import { DEFAULT_RANK_FLAGS } from '@octoserve/collectives';

/** The `octoserve` entry point, which the cluster runs as `octoserve worker`. */
export const CLI_MAIN = fileURLToPath(new URL('../main.js', import.meta.url));

/**
 * V8's garbage collector in a worker.
 * - 1 MiB semi-spaces instead of up to 16: a worker's JavaScript allocates little per step (its
 *   buffers are preallocated), so the larger ones only cost resident memory (stories110M shape,
 *   tp=4: 30-35 MiB less per worker, the same tok/s).
 * - The collector on the main thread only: with small semi-spaces a scavenge runs every few steps,
 *   and a parallel one wakes V8's four helper threads, each of which takes a core from a rank that
 *   is computing or spinning in an all-reduce while its peer waits. stories110M shape, tp=2 q4a8,
 *   8 s of decoding: the helpers woke ~1600 times and the rank's thread was preempted ~2000 times,
 *   against ~90 and ~750 with this flag; 3 paired runs of 1280 steps: 72.4/70.0/86.2 ->
 *   77.5/71.2/90.3 tok/s, step p99 47/51/38 -> 31/31/24 ms.
 */
export const WORKER_GC_FLAGS = ['--max-semi-space-size=1', '--single-threaded-gc'];

/**
 * The command line of a local worker. The V8 flag lets the small hot functions of the step
 * loop and the all-reduce reach optimised code after a few steps instead of thousands.
 */
export const WORKER_COMMAND: readonly string[] = [process.execPath, ...DEFAULT_RANK_FLAGS, ...WORKER_GC_FLAGS, CLI_MAIN, 'worker'];
