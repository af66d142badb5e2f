// The registry of subcommands; each lives in its own file.
import type { Command } from './command.js';
import { benchCommand } from './bench.js';
import { convertCommand } from './convert.js';
import { generateCommand } from './generate.js';
import { medusaCommand } from './medusa.js';
import { synthCommand } from './synth.js';
import { workerCommand } from './worker.js';

export const commands: Record<string, Command> = {
  bench: benchCommand,
  generate: generateCommand,
  medusa: medusaCommand,
  convert: convertCommand,
  synth: synthCommand,
  worker: workerCommand,
};
