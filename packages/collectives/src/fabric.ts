// Which data plane carries a communicator's frames between ranks:
//  - 'grpc':   a gRPC bidi stream per direction (grpc-js server, node:http2 client);
//  - 'socket': a plain TCP (or mutual-TLS) connection per direction carrying
//              length-prefixed frames (socket-transport.ts); between ranks on one
//              host a Unix-domain socket ($OCTOSERVE_SOCKET_LOCAL=tcp keeps TCP);
//  - 'shm':    the socket fabric's links, and when every rank can map one segment of this
//              host's shared memory (and no mutual TLS is configured) the all-reduce runs
//              through that segment instead of messages (shared-segment.ts).
// All carry the same frames (frame-codec.ts) under the same mesh protocol.
import { CollectiveError } from './errors.js';

export const FABRICS = ['grpc', 'socket', 'shm'] as const;
export type Fabric = (typeof FABRICS)[number];

/** The environment variable that picks the fabric when a communicator or endpoint names none. */
export const FABRIC_ENV = 'OCTOSERVE_FABRIC';

/**
 * The fabric used when neither the option nor OCTOSERVE_FABRIC names one: the faster one measured.
 * On 8 ranks over 2 cores (bench allreduce --fabric grpc,socket --rounds 3, medians) the socket
 * fabric takes 0.4-0.85x gRPC's time at 1-64 KiB and moves 1.6x its bytes/s at 1-4 MiB; bench
 * decode at tp 2-8 on stories260K, where more than the fabric bounds a step, gave 0.94-1.3x gRPC's
 * tok/s over two rounds. The shm fabric (2026-12-08, same machine class, one run each, side by
 * side with socket): 8-rank all-reduce p50 at 1 KiB 77-129 us against socket's 334, 4 MiB 19.4 ms
 * against 59.2 (with the native sum: 45 us and 10.0 ms, Open MPI over TCP 176 us and 12.8 ms); bench decode tok/s socket -> shm: stories260K tp=8 102 -> 152-160, stories110M
 * shape q4a8 tp=2 150 -> 199, tp=4 54 -> 100. Across hosts (or under mutual TLS) it falls back to
 * the socket fabric's messages, so it is the default.
 */
export const DEFAULT_FABRIC: Fabric = 'shm';

export function parseFabric(value: string, source: string): Fabric {
  if ((FABRICS as readonly string[]).includes(value)) return value as Fabric;
  throw new CollectiveError('INVALID_ARGUMENT', `${source} is '${value}'; expected one of ${FABRICS.join(', ')}`);
}

/** The fabric named by OCTOSERVE_FABRIC, or undefined when it is unset or empty. */
export function fabricFromEnv(env: NodeJS.ProcessEnv = process.env): Fabric | undefined {
  const v = env[FABRIC_ENV];
  return v === undefined || v === '' ? undefined : parseFabric(v, FABRIC_ENV);
}

/** The fabric to use: the explicit choice, else OCTOSERVE_FABRIC, else the default (validating both). */
export function resolveFabric(explicit: string | undefined, source = 'fabric', env: NodeJS.ProcessEnv = process.env): Fabric {
  if (explicit !== undefined) return parseFabric(explicit, source);
  return fabricFromEnv(env) ?? DEFAULT_FABRIC;
}
