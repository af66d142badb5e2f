// gRPC plumbing: the Collective service's one bidi method, the server a rank
// listens on, and the client streams it opens. Messages cross grpc-js as raw
// Buffers (identity serializers); frame-codec.ts encodes the contract.
import * as grpc from '@grpc/grpc-js';
import { CLUSTER_TOKEN_HEADER, tokenMatches, tokenRefusal } from './auth.js';
import type { TransportSecurity } from './auth.js';
import { CollectiveError, describeError } from './errors.js';

export const EXCHANGE_PATH = '/octoserve.v1.Collective/Exchange';

export type SendStream = grpc.ServerDuplexStream<Buffer, Buffer>;

const identity = (b: Buffer): Buffer => b;

/**
 * grpc-js options, shared by clients and the server. Each one was measured or
 * is needed for correctness:
 *  - no message size limits: a frame carries up to the chunk size (64 MiB tensors work);
 *  - retries off: the retrying layer buffers every message and adds a hop per write;
 *  - channelz off: it counts every message;
 *  - an own subchannel pool per channel: two communicators in one process never share a connection.
 * The receiving side of a rank is grpc-client.ts, which sets its own HTTP/2 window.
 */
export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': -1,
  'grpc.max_send_message_length': -1,
  'grpc.enable_retries': 0,
  'grpc.enable_channelz': 0,
  'grpc.use_local_subchannel_pool': 1,
};

export const SERVER_OPTIONS: grpc.ServerOptions = {
  'grpc.max_receive_message_length': -1,
  'grpc.max_send_message_length': -1,
  'grpc.enable_channelz': 0,
};

/**
 * A bound Collective server. Bind it first (port 0 picks a free port), share
 * `address` with the other ranks, then hand it to Communicator.create.
 *
 * With a cluster token, a call that does not carry it is refused with
 * UNAUTHENTICATED before any of its frames is read; with TLS, only callers
 * with a certificate from the cluster's CA get a connection at all.
 */
export class Endpoint {
  private handler: ((call: SendStream) => void) | undefined;
  /** Calls that arrived before a communicator took the endpoint (peers may be faster). */
  private pending: SendStream[] = [];
  private closed = false;

  private constructor(private readonly server: grpc.Server, readonly address: string, private readonly security: TransportSecurity) {}

  /** Binds `address` (host:port; port 0 = any free port), admitting only callers that meet `security`. */
  static async bind(address: string, security: TransportSecurity = {}): Promise<Endpoint> {
    const server = new grpc.Server(SERVER_OPTIONS);
    const token = security.clusterToken ?? '';
    let endpoint: Endpoint | undefined;
    server.register<Buffer, Buffer>(EXCHANGE_PATH, (call: SendStream) => {
      const given = call.metadata.get(CLUSTER_TOKEN_HEADER)[0];
      const sent = typeof given === 'string' ? given : undefined;
      if (token !== '' && !tokenMatches(token, sent)) {
        refuse(call, grpc.status.UNAUTHENTICATED, tokenRefusal(endpoint?.address ?? address, sent));
      } else if (endpoint === undefined || endpoint.closed) {
        call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'this endpoint is closed' });
      } else if (endpoint.handler === undefined) {
        endpoint.pending.push(call);
      } else {
        endpoint.handler(call);
      }
    }, identity, identity, 'bidi');
    const host = hostOf(address);
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(address, serverCredentials(security), (err, p) => {
        if (err !== null) reject(new CollectiveError('INVALID_ARGUMENT', `cannot listen on ${address}: ${err.message}`));
        else resolve(p);
      });
    });
    endpoint = new Endpoint(server, `${host}:${port}`, security);
    return endpoint;
  }

  /**
   * Whether a communicator that dials with `security` belongs behind this
   * endpoint: the same token and both or neither on TLS. A rank that admitted
   * callers by other rules than it dials with would form half a world.
   */
  matches(security: TransportSecurity): boolean {
    return (this.security.clusterToken ?? '') === (security.clusterToken ?? '') && (this.security.tls === undefined) === (security.tls === undefined);
  }

  /** Routes incoming Exchange calls to `handler` (one communicator per endpoint). */
  serve(handler: (call: SendStream) => void): void {
    if (this.handler !== undefined) throw new CollectiveError('INVALID_ARGUMENT', `endpoint ${this.address} already serves a communicator`);
    this.handler = handler;
    const early = this.pending;
    this.pending = [];
    for (const call of early) handler(call);
  }

  get isClosed(): boolean { return this.closed; }

  /** Stops listening and drops every connection at once. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.server.forceShutdown();
  }
}

function serverCredentials(security: TransportSecurity): grpc.ServerCredentials {
  const tls = security.tls;
  if (tls === undefined) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(tls.ca, [{ cert_chain: tls.cert, private_key: tls.key }], true); // client certificates required
}

function hostOf(address: string): string {
  const i = address.lastIndexOf(':');
  if (i <= 0) throw new CollectiveError('INVALID_ARGUMENT', `address '${address}' is not host:port`);
  return address.slice(0, i);
}

/** Ends a server-side stream with an error status the peer will see. */
/** The most characters of refusal text sent back: longer trailers do not get through HTTP/2's header limits. */
const MAX_REFUSAL = 2_000;

export function refuse(call: SendStream, code: grpc.status, details: string): void {
  call.emit('error', { code, details: details.length <= MAX_REFUSAL ? details : `${details.slice(0, MAX_REFUSAL)}... (cut)` });
}

/** The grpc status a stream error carries, as text ("UNAVAILABLE: Connection dropped"). */
export function statusText(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'code' in err && 'details' in err) {
    const { code, details } = err as { code: unknown; details: unknown };
    const name = typeof code === 'number' ? grpc.status[code] : undefined;
    if (name !== undefined) return `${name}: ${String(details)}`;
  }
  return describeError(err);
}

export const GrpcStatus = grpc.status;
