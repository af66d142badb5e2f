// The registry of subcommands; each lives in its own file.
import type { Command } from './command.js';
import { convertCommand } from './convert.js';
import { generateCommand } from './generate.js';
import { synthCommand } from './synth.js';

export const commands: Record<string, Command> = {
  generate: generateCommand,
  convert: convertCommand,
  synth: synthCommand,
};
