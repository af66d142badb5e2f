#!/usr/bin/env node
// The `octoserve` command: one subcommand per file under commands/.
import { runOctoserve } from './program.js';

// A reader that stops early (`octoserve --help | head`) closes stdout: that ends the command quietly.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

void runOctoserve(process.argv.slice(2)).then((code) => { process.exitCode = code; });
