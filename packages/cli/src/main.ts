#!/usr/bin/env node
// The `octoserve` command: one subcommand per file under commands/.
import { commandGroup } from './commands/dispatch.js';
import { commands } from './commands/index.js';
import { formatError, UsageError } from './errors.js';

const octoserve = commandGroup('octoserve', 'command', 'octoserve', commands);

octoserve.run(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    process.stderr.write(`octoserve: ${formatError(err)}\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  },
);
