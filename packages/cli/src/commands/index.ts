// The subcommands of `octoserve`; each lives in its own file, loaded only when it runs (or when
// the program's help lists them all): a worker process then holds the worker's packages only, not
// the coordinator's, the queue's or the HTTP server's (about 40 MiB less resident memory).
import type { Command } from 'commander';

type Loader = () => Promise<Command>;

/** Each command's name and how to load it, in the order `octoserve --help` lists them. */
const COMMANDS: readonly (readonly [string, Loader])[] = [
  ['bench', async () => (await import('./bench.js')).benchCommand()],
  ['generate', async () => (await import('./generate.js')).generateCommand()],
  ['launch', async () => (await import('./launch.js')).launchCommand()],
  ['medusa', async () => (await import('./medusa.js')).medusaCommand()],
  ['convert', async () => (await import('./convert.js')).convertCommand()],
  ['synth', async () => (await import('./synth.js')).synthCommand()],
  ['simulate', async () => (await import('./simulate.js')).simulateCommand()],
  ['worker', async () => (await import('./worker.js')).workerCommand()],
  ['status', async () => (await import('./status.js')).statusCommand()],
  ['jobs', async () => (await import('./jobs.js')).jobsCommand()],
  ['drain', async () => (await import('./drain.js')).drainCommand()],
  ['resume', async () => (await import('./drain.js')).resumeCommand()],
  ['shutdown', async () => (await import('./drain.js')).shutdownCommand()],
];

/** The commands: only `name`'s when it names one, else all of them (help, a mistyped name). */
export async function commands(name?: string): Promise<Command[]> {
  const one = COMMANDS.find(([n]) => n === name);
  return Promise.all((one === undefined ? COMMANDS : [one]).map(([, load]) => load()));
}
