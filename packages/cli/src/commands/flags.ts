// Flag parsing shared by the commands: node:util parseArgs, --help, and bad flags as UsageError (exit 2).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;
export type FlagValues = Record<string, string | boolean | undefined>;

/** Parses `argv` against `options` (plus --help); unknown or malformed flags throw UsageError. */
export function parseFlags(argv: string[], options: Options): FlagValues {
  try {
    const { values } = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false });
    return values as FlagValues;
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\s*\n\s*/g, ' '));
  }
}

export function stringFlag(values: FlagValues, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
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
  let values: FlagValues;
  try {
    values = parseFlags(argv, options);
    if (values.help === true) {
      process.stdout.write(help.trimEnd() + '\n');
      return 0;
    }
    return await body(values);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`octoserve ${name}: ${err.message} (see 'octoserve ${name} --help')\n`);
    return 2;
  }
}
