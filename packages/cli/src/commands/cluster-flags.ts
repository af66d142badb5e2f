// What the commands that talk to a running cluster share: --cluster, --deadline-ms and --tls-ca,
// the client they make, and JSON output under the proto's own (snake_case) field names.
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { DEFAULT_ADDRESS, OctoserveClient } from '@octoserve/client';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { flag, numberFlag } from './flags.js';

/** The values of the flags clusterFlags adds. */
export interface ClusterFlags {
  cluster?: string;
  deadlineMs?: number;
  tlsCa?: string;
}

/** Adds --cluster, --deadline-ms and --tls-ca to `cmd` (each command describes its own --json). */
export function clusterFlags(cmd: Command): Command {
  return cmd
    .addOption(flag('--cluster ADDR', `the coordinator to talk to, host:port (default: $OCTOSERVE_CLUSTER, else ${DEFAULT_ADDRESS})`))
    .addOption(numberFlag('--deadline-ms MS', 'give up when the cluster has not answered within MS (default 30000); for a stream (watch), ' +
      'when no update has come for MS (default 120000)', { min: 1, integer: true }))
    .addOption(flag('--tls-ca FILE', 'talk TLS to a cluster launched with --tls-cert, trusting this CA certificate (PEM; default ' +
      '$OCTOSERVE_TLS_CA). Admin calls send $OCTOSERVE_ADMIN_TOKEN, else the token a coordinator on this host wrote to ' +
      '~/.config/octoserve/admin-token-PORT'));
}

/** --cluster, else $OCTOSERVE_CLUSTER, else 127.0.0.1:50051. */
export function clusterAddress(flags: ClusterFlags): string {
  const given = flags.cluster;
  if (given !== undefined && given.trim() === '') throw new UsageError('--cluster needs an address, host:port');
  return given ?? (process.env.OCTOSERVE_CLUSTER || DEFAULT_ADDRESS);
}

function readCa(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UsageError(`--tls-ca ${path}: ${(err as Error).message}`);
  }
}

/** TLS credentials trusting --tls-ca (else $OCTOSERVE_TLS_CA), or undefined for plaintext. */
export function clusterCredentials(flags: ClusterFlags): grpc.ChannelCredentials | undefined {
  const ca = flags.tlsCa ?? (process.env.OCTOSERVE_TLS_CA || undefined);
  return ca === undefined ? undefined : grpc.credentials.createSsl(readCa(ca));
}

/** A client of the cluster the flags name, closed when `body` is done. */
export async function withClient<T>(flags: ClusterFlags, body: (client: OctoserveClient) => Promise<T>): Promise<T> {
  const address = clusterAddress(flags);
  const deadline = flags.deadlineMs;
  const credentials = clusterCredentials(flags);
  const client = new OctoserveClient({ address, ...(credentials === undefined ? {} : { credentials }), ...(deadline === undefined ? {} : { deadlineMs: deadline, idleTimeoutMs: deadline }) });
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
