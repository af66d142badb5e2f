// `octoserve bench <what>`: a small registry of benchmarks, one file each.
import type { Command } from 'commander';
import { commandGroup } from './flags.js';
import { benchAllReduceCommand } from './bench-allreduce.js';
import { benchCalibrateCommand } from './bench-calibrate.js';
import { benchDecodeCommand } from './bench-decode.js';
import { benchServeCommand } from './bench-serve.js';

export function benchCommand(): Command {
  return commandGroup('bench', 'benchmarks: allreduce, decode, serve, calibrate', [benchAllReduceCommand(), benchDecodeCommand(), benchServeCommand(), benchCalibrateCommand()]);
}
