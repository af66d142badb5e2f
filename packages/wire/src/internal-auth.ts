// Who may talk on the cluster's internal links (Registry, Worker, and the
// collective endpoints): callers that carry the cluster token, and, when
// certificates are given, only peers with a certificate from the cluster's CA
// (mutual TLS). The token rides in call metadata; the Registry also reads the
// RegisterRequest.cluster_token field.
import { createHash, timingSafeEqual } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';

/** The environment that hands a local worker its cluster token (never argv: `ps` shows argv). */
export const CLUSTER_TOKEN_ENV = 'OCTOSERVE_CLUSTER_TOKEN';
/**
 * ... and its internal TLS material, as PEM text (not file names: the coordinator may hold it only
 * in memory). Not OCTOSERVE_TLS_CA, which names the client API's CA file.
 */
export const INTERNAL_TLS_ENV = { ca: 'OCTOSERVE_INTERNAL_TLS_CA', cert: 'OCTOSERVE_INTERNAL_TLS_CERT', key: 'OCTOSERVE_INTERNAL_TLS_KEY' } as const;

/** The metadata key every internal call carries the cluster token in. */
export const CLUSTER_TOKEN_METADATA = 'x-octoserve-cluster-token';

/** PEM material of mutual TLS on internal links: the cluster's CA, and this node's certificate and key. */
export interface InternalTls {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/** How a node proves it belongs to the cluster, and checks that its callers do. */
export interface InternalSecurity {
  /** A shared secret; unset or '': internal servers accept any caller (as before tokens). */
  clusterToken?: string;
  /** Mutual TLS on every internal link; unset: plaintext. */
  tls?: InternalTls;
}

/**
 * Whether `given` is the cluster token, compared in constant time: both sides
 * are hashed first, so neither the length nor a common prefix leaks.
 */
export function tokenMatches(expected: string, given: string | undefined): boolean {
  if (given === undefined) return false;
  const a = createHash('sha256').update(expected, 'utf8').digest();
  const b = createHash('sha256').update(given, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/** The refusal a caller without the right token gets; `who` is the refusing side ("this worker"). */
export function tokenRefusal(who: string, given: string | undefined): string {
  return `${who} belongs to another cluster: missing or wrong cluster token (${given === undefined || given === '' ? 'the call carried none' : 'the call carried a different one'})`;
}

/** Server credentials of an internal server: mutual TLS (client certificates required) or plaintext. */
export function internalServerCredentials(tls: InternalTls | undefined): grpc.ServerCredentials {
  if (tls === undefined) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(tls.ca, [{ cert_chain: tls.cert, private_key: tls.key }], true);
}

/** Channel credentials of an internal client: this node's certificate against the cluster's CA, or plaintext. */
export function internalChannelCredentials(tls: InternalTls | undefined): grpc.ChannelCredentials {
  if (tls === undefined) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(tls.ca, tls.key, tls.cert);
}

/** A client interceptor that puts the cluster token into every call's metadata. */
export function sendClusterToken(token: string): grpc.Interceptor {
  return (options, nextCall) => new grpc.InterceptingCall(nextCall(options), {
    start(metadata, listener, next) {
      metadata.set(CLUSTER_TOKEN_METADATA, token);
      next(metadata, listener);
    },
  });
}

/**
 * A server interceptor that ends every call without the right token with
 * UNAUTHENTICATED before the handler runs: grpc-js starts a handler only
 * once the call's metadata has passed every interceptor, and it never does here.
 */
export function requireClusterToken(token: string, who: string): grpc.ServerInterceptor {
  return (_method, call) => new grpc.ServerInterceptingCall(call, {
    start(next) {
      next({
        onReceiveMetadata(metadata, mdNext) {
          const given = metadata.get(CLUSTER_TOKEN_METADATA)[0];
          const text = typeof given === 'string' ? given : undefined;
          if (tokenMatches(token, text)) mdNext(metadata);
          else call.sendStatus({ code: grpc.status.UNAUTHENTICATED, details: tokenRefusal(who, text) });
        },
      });
    },
  });
}

/** `base` plus the token check, for an internal server that `who` names in refusals. */
export function internalServerOptions(base: grpc.ServerOptions, security: InternalSecurity, who: string): grpc.ServerOptions {
  const token = security.clusterToken ?? '';
  return token === '' ? base : { ...base, interceptors: [...(base.interceptors ?? []), requireClusterToken(token, who)] };
}

/** `base` plus the token on every call, for an internal client. */
export function internalClientOptions(base: grpc.ChannelOptions, security: InternalSecurity): grpc.ClientOptions {
  const token = security.clusterToken ?? '';
  return token === '' ? { ...base } : { ...base, interceptors: [sendClusterToken(token)] };
}
