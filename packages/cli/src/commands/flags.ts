// Flag parsing shared by the commands: node:util parseArgs, --help, and bad flags as UsageError (exit 2).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;
export type FlagValues = Record<string, string | boolean | undefined>;

/** Parses `argv` against `options` (plus --help); unknown or malformed flags throw UsageError. */
export function parseFlags(argv: string[], options: Options): FlagValues {
  return parseArgv(argv, options, false).values;
}

/** As parseFlags, and also the positional arguments (e.g. a job id). */
export function parseFlagsWithPositionals(argv: string[], options: Options): { values: FlagValues; positionals: string[] } {
  return parseArgv(argv, options, true);
}

function parseArgv(argv: string[], options: Options, allowPositionals: boolean): { values: FlagValues; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals });
    return { values: values as FlagValues, positionals };
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\s*\n\s*/g, ' '));
  }
}

export function stringFlag(values: FlagValues, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

/**
 * A flag given several times or as a comma-separated list; [] when absent. An option declared
 * `multiple: true` holds an array at run time, which FlagValues does not spell out (commands
 * pass FlagValues on as a record of strings and booleans).
 */
export function listFlag(values: FlagValues, name: string): string[] {
  const v: unknown = values[name];
  const given = Array.isArray(v) ? v.map(String) : typeof v === 'string' ? [v] : [];
  return given.flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== '');
}

export function requiredFlag(values: FlagValues, name: string): string {
  const v = stringFlag(values, name);
  if (v === undefined || v === '') throw new UsageError(`--${name} is required`);
  return v;
}

/** A number flag; `integer` also demands a whole number. Range is [min, max]. */
export function numberFlag(
  values: FlagValues, name: string, fallback: number, range: { min?: number; max?: number; integer?: boolean } = {},
): number {
  const raw = stringFlag(values, name);
  if (raw === undefined) return fallback;
  const v = Number(raw);
  const { min = -Infinity, max = Infinity, integer = false } = range;
  if (raw.trim() === '' || !Number.isFinite(v) || (integer && !Number.isSafeInteger(v)) || v < min || v > max) {
    const kind = integer ? 'an integer' : 'a number';
    const bounds = [min > -Infinity ? `>= ${min}` : '', max < Infinity ? `<= ${max}` : ''].filter((s) => s !== '').join(' and ');
    throw new UsageError(`--${name} must be ${kind}${bounds === '' ? '' : ' ' + bounds}, got '${raw}'`);
  }
  return v;
}

export function choiceFlag<T extends string>(values: FlagValues, name: string, choices: readonly T[], fallback?: T): T {
  const v = stringFlag(values, name) ?? fallback;
  if (v === undefined) throw new UsageError(`--${name} is required (one of ${choices.join(', ')})`);
  if (!(choices as readonly string[]).includes(v)) throw new UsageError(`--${name} must be one of ${choices.join(', ')}, got '${v}'`);
  return v as T;
}

/**
 * Runs a command body: prints `help` for --help (exit 0); a UsageError prints one line and a
 * pointer to --help (exit 2). Other errors go on to main, which prints one line (exit 1).
 */
export async function runWithFlags(
  name: string, help: string, argv: string[], options: Options, body: (values: FlagValues) => Promise<number>,
): Promise<number> {
  return runParsed(name, help, () => ({ values: parseFlags(argv, options), positionals: [] }), (values) => body(values));
}

/**
 * As runWithFlags for a command that takes exactly the positional arguments `names` (e.g.
 * ['ID']): a missing or extra one is a UsageError. `body` gets them in order.
 */
export async function runWithPositionals(
  name: string, help: string, argv: string[], options: Options, names: readonly string[],
  body: (values: FlagValues, args: string[]) => Promise<number>,
): Promise<number> {
  return runParsed(name, help, () => parseFlagsWithPositionals(argv, options), (values, args) => {
    if (args.length < names.length) throw new UsageError(`missing ${names.slice(args.length).join(' ')}`);
    if (args.length > names.length) throw new UsageError(`unexpected argument '${args[names.length]!}'`);
    return body(values, args);
  });
}

async function runParsed(
  name: string, help: string, parse: () => { values: FlagValues; positionals: string[] },
  body: (values: FlagValues, args: string[]) => Promise<number>,
): Promise<number> {
  try {
    const { values, positionals } = parse();
    if (values.help === true) {
      process.stdout.write(help.trimEnd() + '\n');
      return 0;
    }
    return await body(values, positionals);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`octoserve ${name}: ${err.message} (see 'octoserve ${name} --help')\n`);
    return 2;
  }
}
