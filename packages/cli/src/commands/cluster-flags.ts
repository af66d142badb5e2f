// What the commands that talk to a running cluster share: --cluster, --deadline-ms and --json,
// the client they make, and JSON output under the proto's own (snake_case) field names.
import { DEFAULT_ADDRESS, OctoserveClient } from '@octoserve/client';
import { UsageError } from '../errors.js';
import { numberFlag, stringFlag, type FlagValues } from './flags.js';

export const CLUSTER_OPTIONS = {
  cluster: { type: 'string' },
  'deadline-ms': { type: 'string' },
  json: { type: 'boolean' },
} as const;

/** The --help lines of CLUSTER_OPTIONS but --json, whose output each command describes. */
export const CLUSTER_HELP = `  --cluster ADDR      the coordinator to talk to, host:port (default: $OCTOSERVE_CLUSTER, else
                      ${DEFAULT_ADDRESS})
  --deadline-ms MS    give up when the cluster has not answered within MS (default 30000); for a
                      stream (watch), when no update has come for MS (default 120000)`;

/** --cluster, else $OCTOSERVE_CLUSTER, else 127.0.0.1:50051. */
export function clusterAddress(flags: FlagValues): string {
  const given = stringFlag(flags, 'cluster');
  if (given !== undefined && given.trim() === '') throw new UsageError('--cluster needs an address, host:port');
  return given ?? (process.env.OCTOSERVE_CLUSTER || DEFAULT_ADDRESS);
}

/** A client of the cluster the flags name, closed when `body` is done. */
export async function withClient<T>(flags: FlagValues, body: (client: OctoserveClient) => Promise<T>): Promise<T> {
  const address = clusterAddress(flags);
  const deadline = flags['deadline-ms'] === undefined ? undefined : numberFlag(flags, 'deadline-ms', 0, { min: 1, integer: true });
  const client = new OctoserveClient({ address, ...(deadline === undefined ? {} : { deadlineMs: deadline, idleTimeoutMs: deadline }) });
  try {
    return await body(client);
  } finally {
    client.close();
  }
}

/** camelCase -> snake_case, the proto's spelling: stepMsP50 -> step_ms_p50. */
export function snakeCase(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/**
 * A reply as plain JSON under the proto's field names. The loader's markers of proto3 optional
 * fields (`_maxTokens: 'maxTokens'`) are left out; the fields themselves stay when set.
 */
export function snakeJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(snakeJson);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (k.startsWith('_') || v === undefined) continue;
    out[snakeCase(k)] = snakeJson(v);
  }
  return out;
}

/** One JSON object on one line of stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + '\n');
}
