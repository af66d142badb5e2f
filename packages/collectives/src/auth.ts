// Who may open an Exchange stream on a rank's endpoint: a caller that carries
// the cluster token in the call's metadata and, under mutual TLS, presents a
// certificate from the cluster's CA. The endpoint checks both before it reads
// a single frame, so an outsider never reaches the HELLO checks of world
// formation (whose refusals are fatal while a world forms). The rules and the
// header are those of every internal link (@octoserve/wire's internal-auth).
import { CLUSTER_TOKEN_METADATA, tokenMatches, tokenRefusal as refusal } from '@octoserve/wire';
import type { InternalSecurity, InternalTls } from '@octoserve/wire';

export { tokenMatches };

/** The metadata key (an HTTP/2 header) that carries the cluster token. */
export const CLUSTER_TOKEN_HEADER = CLUSTER_TOKEN_METADATA;

/** PEM material of mutual TLS: the cluster's CA, and this rank's certificate and key. */
export type CollectiveTls = InternalTls;

/** What a rank's endpoint demands of callers (token unset or '': any), and what its dialer presents to peers. */
export type TransportSecurity = InternalSecurity;

/** The refusal a caller without the right token gets from the endpoint at `address`. */
export function tokenRefusal(address: string, given: string | undefined): string {
  return refusal(`the collective endpoint ${address}`, given);
}
