// The log lines of `launch` and `worker` on stderr: as text (the default, one readable line
// each), or with --log-format json ($OCTOSERVE_LOG_FORMAT) as JSON lines (pino) that a log
// collector reads, each with its message in `msg` (the text line, word for word) and the ids it
// is about (job, attempt, rank) as fields.
import { pino } from 'pino';
import type { Logger } from 'pino';
import { UsageError } from '../errors.js';

export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Fields a line is about: a job's id and attempt, a rank. */
export type LogFields = Record<string, string | number>;

/** Writes one log line; `fields` go into a JSON line and are left out of a text one. */
export type LogLine = (line: string, fields?: LogFields) => void;

/** --log-format's value, else $OCTOSERVE_LOG_FORMAT, else text. */
export function logFormatOf(flag: string | undefined): LogFormat {
  const value = flag ?? (process.env.OCTOSERVE_LOG_FORMAT || 'text');
  if (!(LOG_FORMATS as readonly string[]).includes(value)) {
    throw new UsageError(`${flag === undefined ? '$OCTOSERVE_LOG_FORMAT' : '--log-format'} must be one of ${LOG_FORMATS.join(', ')}, got '${value}'`);
  }
  return value as LogFormat;
}

/** A JSON-lines logger on stderr; synchronous, so the last lines before an exit are written. */
function jsonLogger(base: LogFields): Logger {
  return pino({ base: { pid: process.pid, ...base }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ fd: 2, sync: true }));
}

/** A worker's line as the coordinator that started it forwards it: `[rank R] line`. */
const FORWARDED = /^\[rank (\d+)\] (.*)$/s;

export interface LogLines {
  /** What the service says about itself (text: `octoserve: ` first). */
  say: LogLine;
  /** The workers' and the coordinator's log lines (--verbose). */
  log: LogLine;
}

/** `launch`'s lines in `format`. */
export function launchLogLines(format: LogFormat): LogLines {
  if (format === 'text') {
    return {
      say: (line) => { process.stderr.write(`octoserve: ${line}\n`); },
      log: (line) => { process.stderr.write(`${line}\n`); },
    };
  }
  const logger = jsonLogger({ name: 'octoserve' });
  const write: LogLine = (line, fields) => { logger.info(fields ?? {}, line); };
  return {
    say: write,
    log: (line, fields) => {
      const m = FORWARDED.exec(line);
      if (m === null) return write(line, fields);
      const [, rank, rest] = m as unknown as [string, string, string];
      // a local worker logging JSON lines too: pass its line on as it is (it carries its rank)
      if (rest.startsWith('{')) {
        try {
          JSON.parse(rest);
          process.stderr.write(`${rest}\n`);
          return;
        } catch {
          // not a JSON line after all: log it as text below
        }
      }
      write(rest, { ...fields, rank: Number(rank) });
    },
  };
}

/** `worker`'s lines in `format`: every line carries the rank. */
export function workerLogLine(format: LogFormat, rank: number): LogLine {
  if (format === 'text') return (line) => { process.stderr.write(`${line}\n`); };
  const logger = jsonLogger({ name: 'octoserve-worker', rank });
  return (line, fields) => { logger.info(fields ?? {}, line); };
}
