// How a local cluster starts its workers: this CLI again, as `octoserve worker`.
import { fileURLToPath } from 'node:url';
import { DEFAULT_RANK_FLAGS } from '@octoserve/collectives';

/** The `octoserve` entry point, which the cluster runs as `octoserve worker`. */
export const CLI_MAIN = fileURLToPath(new URL('../main.js', import.meta.url));

/**
 * V8's young generation of a worker: 1 MiB semi-spaces instead of up to 16. A worker's JavaScript
 * allocates little per step (its buffers are preallocated), so the larger ones only cost resident
 * memory: stories110M shape, tp=4, 30-35 MiB less per worker, the same tok/s.
 */
export const WORKER_HEAP_FLAGS = ['--max-semi-space-size=1'];

/**
 * The command line of a local worker. The V8 flag lets the small hot functions of the step
 * loop and the all-reduce reach optimised code after a few steps instead of thousands.
 */
export const WORKER_COMMAND: readonly string[] = [process.execPath, ...DEFAULT_RANK_FLAGS, ...WORKER_HEAP_FLAGS, CLI_MAIN, 'worker'];
