// The registry of subcommands; each lives in its own file.
import type { Command } from './command.js';
import { benchCommand } from './bench.js';
import { convertCommand } from './convert.js';
import { drainCommand, resumeCommand, shutdownCommand } from './drain.js';
import { generateCommand } from './generate.js';
import { launchCommand } from './launch.js';
import { jobsCommand } from './jobs.js';
import { medusaCommand } from './medusa.js';
import { statusCommand } from './status.js';
import { synthCommand } from './synth.js';
import { workerCommand } from './worker.js';

export const commands: Record<string, Command> = {
  bench: benchCommand,
  generate: generateCommand,
  launch: launchCommand,
  medusa: medusaCommand,
  convert: convertCommand,
  synth: synthCommand,
  worker: workerCommand,
  status: statusCommand,
  jobs: jobsCommand,
  drain: drainCommand,
  resume: resumeCommand,
  shutdown: shutdownCommand,
};
