// Who may open an Exchange stream on a rank's endpoint: a caller that carries
// the cluster token in the call's metadata and, under mutual TLS, presents a
// certificate from the cluster's CA. The endpoint checks both before it reads
// a single frame, so an outsider never reaches the HELLO checks of world
// formation (whose refusals are fatal while a world forms).
//
// The same rules as @octoserve/wire's internal-auth.ts, which this package
// cannot import (it knows nothing of the services above it).
import { createHash, timingSafeEqual } from 'node:crypto';

/** The metadata key (an HTTP/2 header) that carries the cluster token. */
export const CLUSTER_TOKEN_HEADER = 'x-octoserve-cluster-token';

/** PEM material of mutual TLS: the cluster's CA, and this rank's certificate and key. */
export interface CollectiveTls {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/** What a rank's endpoint demands of callers, and what its dialer presents to peers. */
export interface TransportSecurity {
  /** Shared secret; unset or '': the endpoint accepts any caller. */
  clusterToken?: string;
  /** Mutual TLS; unset: plaintext HTTP/2. */
  tls?: CollectiveTls;
}

/** Whether `given` is the token, compared in constant time over hashes (no length or prefix leaks). */
export function tokenMatches(expected: string, given: string | undefined): boolean {
  if (given === undefined) return false;
  const a = createHash('sha256').update(expected, 'utf8').digest();
  const b = createHash('sha256').update(given, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/** The refusal a caller without the right token gets from the endpoint at `address`. */
export function tokenRefusal(address: string, given: string | undefined): string {
  const sent = given === undefined || given === '' ? 'the call carried none' : 'the call carried a different one';
  return `the collective endpoint ${address} belongs to another cluster: missing or wrong cluster token (${sent})`;
}
