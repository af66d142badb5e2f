// The `octoserve` program: its subcommands, --version, and how a run ends: the exit code, and
// one line on stderr for a failure (2 for a usage mistake, 1 for the rest).
import { readFileSync } from 'node:fs';
import { CommanderError, type Command, type Option } from 'commander';
import { commands } from './commands/index.js';
import { OctoserveCommand, exitCode } from './commands/flags.js';
import { formatError, UsageError } from './errors.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** The program; with `only`, just that subcommand when it is one (the others are not loaded). */
export async function buildProgram(only?: string): Promise<Command> {
  const program = new OctoserveCommand('octoserve')
    .description('Tensor-parallel Llama serving with Medusa speculative decoding.')
    .usage('<command> [options]')
    .version(version(), '-V, --version', 'print the version')
    .enablePositionalOptions()
    .passThroughOptions();
  for (const command of await commands(only)) program.addCommand(command);
  program.helpCommand('help [command]', 'show the help of a command');
  program.addHelpText('after', "\nRun `octoserve <command> --help` for its options.");
  return program;
}

/** The command `argv` runs: down the subcommands its first words name. */
function commandOf(program: Command, argv: readonly string[]): { command: Command; rest: string[] } {
  let command = program;
  let i = 0;
  for (; i < argv.length; i++) {
    const next = command.commands.find((c) => c.name() === argv[i]);
    if (next === undefined) break;
    command = next;
  }
  return { command, rest: argv.slice(i) };
}

/** 'octoserve jobs get'. */
function pathOf(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c !== null; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/**
 * `--flag -x` where --flag takes a value is refused, as node's parseArgs does: a value that starts
 * with a dash is more often a forgotten value than a value (`--prompt --json`).
 */
function checkDashValues(command: Command, rest: readonly string[]): void {
  for (let i = 0; i < rest.length - 1; i++) {
    const arg = rest[i]!;
    if (arg === '--') return;
    if (!arg.startsWith('--') || arg.includes('=')) continue;
    const option = command.options.find((o: Option) => o.long === arg);
    if (option === undefined || !(option.required || option.optional)) continue;
    const value = rest[i + 1]!;
    if (value.startsWith('-')) {
      throw new UsageError(`Option '${arg}' argument is ambiguous. Did you forget to specify the option argument for '${arg}'? ` +
        `To specify an option argument starting with a dash use '${arg}=-XYZ'.`);
    }
    i++;
  }
}

/** A commander message as one line: 'error: unknown option ...\n(Did you mean ...?)' -> 'Unknown option ... (Did you mean ...?)'. */
function oneLine(message: string): string {
  const text = message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').trim();
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function usageFailure(command: Command, message: string): number {
  const path = pathOf(command);
  process.stderr.write(`${path}: ${message} (see '${path} --help')\n`);
  return 2;
}

/** Runs `octoserve ...argv`; resolves with the exit code. */
export async function runOctoserve(argv: readonly string[]): Promise<number> {
  const program = await buildProgram(argv[0]);
  const { command, rest } = commandOf(program, argv);
  try {
    checkDashValues(command, rest);
    exitCode.value = 0;
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode.value;
  } catch (err) {
    if (err instanceof UsageError) return usageFailure(command, err.message);
    if (err instanceof CommanderError) {
      // --help and --version print and end with 0; help for a missing command ends with 2
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
      if (err.code === 'commander.help') return err.exitCode === 0 ? 0 : 2;
      return usageFailure(command, oneLine(err.message));
    }
    process.stderr.write(`octoserve: ${formatError(err)}\n`);
    return 1;
  }
}
