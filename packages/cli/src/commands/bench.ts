// `octoserve bench <what>`: a small registry of benchmarks, one file each.
import type { Command } from './command.js';
import { commandGroup } from './dispatch.js';
import { benchAllReduceCommand } from './bench-allreduce.js';
import { benchDecodeCommand } from './bench-decode.js';
import { benchServeCommand } from './bench-serve.js';

export const benchCommands: Record<string, Command> = {
  allreduce: benchAllReduceCommand,
  decode: benchDecodeCommand,
  serve: benchServeCommand,
};

export const benchCommand: Command = commandGroup('octoserve bench', 'benchmark', 'benchmarks: ' + Object.keys(benchCommands).join(', '), benchCommands);
