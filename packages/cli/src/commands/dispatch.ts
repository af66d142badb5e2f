// Dispatch to one of a registry of commands: `octoserve <command>`, `octoserve bench <benchmark>`, ...
import type { Command } from './command.js';

/** A command made of subcommands, with a usage listing them. */
export function commandGroup(prefix: string, noun: string, summary: string, registry: Record<string, Command>): Command {
  const usage = (): string => {
    const rows = Object.entries(registry).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
    return [`usage: ${prefix} <${noun}> [options]`, '', `${noun}s:`, ...rows, '',
      `Run \`${prefix} <${noun}> --help\` for its options.`].join('\n');
  };
  return {
    summary,
    async run(argv) {
      const [name, ...rest] = argv;
      if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
        process.stdout.write(usage() + '\n');
        return name === undefined ? 2 : 0;
      }
      const command = registry[name];
      if (command === undefined) {
        process.stderr.write(`${prefix}: unknown ${noun} '${name}'\n\n${usage()}\n`);
        return 2;
      }
      return command.run(rest);
    },
  };
}
