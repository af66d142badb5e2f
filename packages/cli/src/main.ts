#!/usr/bin/env node
// The `octoserve` command: one subcommand per file under commands/.
import { commands } from './commands/index.js';
import { formatError, UsageError } from './errors.js';

function usage(): string {
  const rows = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return ['usage: octoserve <command> [options]', '', 'commands:', ...rows, '',
    'Run `octoserve <command> --help` for the options of one command.'].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (command === undefined) {
    process.stderr.write(`octoserve: unknown command '${name}'\n\n${usage()}\n`);
    return 2;
  }
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    process.stderr.write(`octoserve: ${formatError(err)}\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  },
);
