// Flags on commander: one definition per flag (its name, value, parser and help line), from which
// both the parsing and `--help` come. Bad values throw UsageError (exit 2) with a message that
// names the flag and the value.
import { Command, Help, Option } from 'commander';
import { UsageError } from '../errors.js';

export interface Range {
  min?: number;
  max?: number;
  integer?: boolean;
}

/** `--name must be an integer >= 1, got '0'` unless `v` (read from `raw`) is in `range`. */
export function checkRange(name: string, v: number, raw: string, range: Range): number {
  const { min = -Infinity, max = Infinity, integer = false } = range;
  if (raw.trim() === '' || !Number.isFinite(v) || (integer && !Number.isSafeInteger(v)) || v < min || v > max) {
    const kind = integer ? 'an integer' : 'a number';
    const bounds = [min > -Infinity ? `>= ${min}` : '', max < Infinity ? `<= ${max}` : ''].filter((s) => s !== '').join(' and ');
    throw new UsageError(`--${name} must be ${kind}${bounds === '' ? '' : ' ' + bounds}, got '${raw}'`);
  }
  return v;
}

/** The long name of a flag term: '--max-tokens N' -> 'max-tokens'. */
function longName(term: string): string {
  const m = /--([a-z0-9][a-z0-9-]*)/.exec(term);
  if (m === null) throw new Error(`flag term '${term}' has no --name`);
  return m[1]!;
}

/**
 * An option from its help term as the help shows it ('--tp N', '--json', '-h, --help'): an
 * upper-case word after the name is its value.
 */
export function flag(term: string, description: string): Option {
  return new Option(term.replace(/ ([A-Z][A-Z_]*)$/, ' <$1>'), description);
}

/** A number flag; `range.integer` also demands a whole number. */
export function numberFlag(term: string, description: string, range: Range = {}): Option {
  const name = longName(term);
  return flag(term, description).argParser((raw: string) => checkRange(name, Number(raw), raw, range));
}

/** A flag whose value is one of `choices`. */
export function choiceFlag(term: string, description: string, choices: readonly string[]): Option {
  const name = longName(term);
  return flag(term, description).argParser((v: string) => {
    if (!choices.includes(v)) throw new UsageError(`--${name} must be one of ${choices.join(', ')}, got '${v}'`);
    return v;
  });
}

/** A flag given several times or as a comma-separated list (the values, in order). */
export function listFlag(term: string, description: string): Option {
  return flag(term, description).argParser((v: string, previous: string[] | undefined) => [...(previous ?? []), ...splitList(v)]);
}

/** 'a, b,,c' -> ['a', 'b', 'c']. */
export function splitList(v: string): string[] {
  return v.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/** A flag that is refused with `why` (kept out of --help): e.g. a secret as a plain value. */
export function refusedFlag(term: string, why: string): Option {
  return flag(term, '').hideHelp().argParser(() => { throw new UsageError(why); });
}

/** `value`, or a UsageError that --name is required (`hint` says what it takes, e.g. 'one of a, b'). */
export function required<T>(value: T | undefined, name: string, hint?: string): T {
  if (value === undefined || value === '') throw new UsageError(`--${name} is required${hint === undefined ? '' : ` (${hint})`}`);
  return value;
}

/** The widest help: lines past it are wrapped (and narrower on a narrow terminal). */
const HELP_WIDTH = 100;

/** Help as octoserve writes it: `usage:` and `options:` headings, flag values without brackets. */
class OctoserveHelp extends Help {
  override styleTitle(title: string): string {
    return title.toLowerCase();
  }

  override subcommandTerm(cmd: Command): string {
    return cmd.name();
  }

  override optionTerm(option: Option): string {
    return option.flags.replace(/<([^>]+)>/g, '$1');
  }

  override prepareContext(context: { error?: boolean; helpWidth?: number; outputHasColors?: boolean }): void {
    super.prepareContext(context);
    this.helpWidth = Math.min(HELP_WIDTH, context.helpWidth ?? HELP_WIDTH);
  }
}

/** The exit code a command's action chose: its body's return value. */
export const exitCode = { value: 0 };

export interface CommandSpec {
  /** After the command's name on the usage line, e.g. '[--model PATH] --prompt TEXT [options]'. */
  usage: string;
  /** A line in the list of commands. */
  summary: string;
  /** Paragraphs before the options (wrapped to the help's width). */
  description: string;
  /** Paragraphs after the options, as written. */
  epilog?: string;
}

/** A command as every octoserve command is: errors thrown for main to report, octoserve's help. */
export class OctoserveCommand extends Command {
  constructor(name?: string) {
    super(name);
    this.helpOption('-h, --help', 'show this help')
      .showSuggestionAfterError(true)
      .exitOverride()
      .configureOutput({ outputError: () => { /* main prints the error, in one line */ } });
  }

  override createHelp(): Help {
    return Object.assign(new OctoserveHelp(), this.configureHelp());
  }

  override createCommand(name?: string): Command {
    return new OctoserveCommand(name);
  }
}

/** A command with its usage line, summary, description and closing paragraphs. */
export function newCommand(name: string, spec: CommandSpec): Command {
  const cmd = new OctoserveCommand(name).summary(spec.summary).description(spec.description).usage(spec.usage);
  if (spec.epilog !== undefined) cmd.addHelpText('after', `\n${spec.epilog.trimEnd()}`);
  return cmd;
}

/** A command made of subcommands (`octoserve jobs submit`, ...). */
export function commandGroup(name: string, summary: string, subcommands: readonly Command[]): Command {
  const group = new OctoserveCommand(name).summary(summary).description(summary).usage('<subcommand> [options]')
    .enablePositionalOptions().passThroughOptions();
  for (const sub of subcommands) group.addCommand(sub);
  group.helpCommand('help [subcommand]', 'show the help of a subcommand');
  return group;
}

/** Sets `body` as the action of `cmd`; its return value is the exit code. */
export function action<T>(cmd: Command, body: (opts: T, args: string[]) => Promise<number>): Command {
  return cmd.action(async () => {
    exitCode.value = await body(cmd.opts<T & Record<string, unknown>>() as T, cmd.args);
  });
}

/** Exactly the positional arguments `names` (e.g. ['job ID']); a missing or extra one is a UsageError. */
export function positionals(args: readonly string[], names: readonly string[]): string[] {
  if (args.length < names.length) throw new UsageError(`missing ${names.slice(args.length).join(' ')}`);
  if (args.length > names.length) throw new UsageError(`unexpected argument '${args[names.length]!}'`);
  return [...args];
}
