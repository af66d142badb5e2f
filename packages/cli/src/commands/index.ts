// The subcommands of `octoserve`; each lives in its own file.
import type { Command } from 'commander';
import { benchCommand } from './bench.js';
import { convertCommand } from './convert.js';
import { drainCommand, resumeCommand, shutdownCommand } from './drain.js';
import { generateCommand } from './generate.js';
import { jobsCommand } from './jobs.js';
import { launchCommand } from './launch.js';
import { medusaCommand } from './medusa.js';
import { simulateCommand } from './simulate.js';
import { statusCommand } from './status.js';
import { synthCommand } from './synth.js';
import { workerCommand } from './worker.js';

export function commands(): Command[] {
  return [
    benchCommand(), generateCommand(), launchCommand(), medusaCommand(), convertCommand(), synthCommand(), simulateCommand(), workerCommand(),
    statusCommand(), jobsCommand(), drainCommand(), resumeCommand(), shutdownCommand(),
  ];
}
