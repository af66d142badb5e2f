// A rank's collective endpoint, over either fabric, and the gRPC plumbing:
// the Collective service's one bidi method, the server a rank listens on.
// Messages cross grpc-js as raw Buffers (identity serializers); frame-codec.ts
// encodes the contract. The client streams a rank opens are grpc-client.ts;
// the socket fabric is socket-transport.ts.
import * as grpc from '@grpc/grpc-js';
import { CLUSTER_TOKEN_HEADER, tokenMatches, tokenRefusal } from './auth.js';
import type { TransportSecurity } from './auth.js';
import { CollectiveError, describeError } from './errors.js';
import { resolveFabric } from './fabric.js';
import type { Fabric } from './fabric.js';
import { EXCHANGE_PATH, PeerConnection } from './grpc-client.js';
import { LinkInbox } from './link.js';
import type { AcceptedLink, AcceptedLinkHandlers, DialedLink, DialedLinkHandlers, LinkListener } from './link.js';
import { SocketListener } from './socket-transport.js';

export { EXCHANGE_PATH };

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

/** How an Endpoint is bound: whom it admits (token, mutual TLS) and which fabric it speaks. */
export interface EndpointOptions extends TransportSecurity {
  /** The data plane: default OCTOSERVE_FABRIC, else 'grpc'. */
  fabric?: Fabric;
}

/** The server-side call of the gRPC fabric as a mesh link. */
class GrpcAcceptedLink implements AcceptedLink {
  constructor(private readonly call: SendStream) {}

  listen(handlers: AcceptedLinkHandlers): void {
    this.call.on('data', (buf: Buffer) => handlers.onMessage(buf));
    this.call.on('cancelled', () => handlers.onLost('dropped', undefined));
    this.call.on('error', (err: unknown) => handlers.onLost('broke', statusText(err)));
  }

  write(frame: Buffer): void { this.call.write(frame); }
  end(): void { this.call.end(); }
  get writableEnded(): boolean { return this.call.writableEnded; }
  refuse(code: number, details: string): void { refuse(this.call, code, details); }
}

/** The gRPC fabric's listening side: a grpc-js server with the one Exchange method. */
class GrpcListener implements LinkListener {
  private readonly inbox = new LinkInbox();
  /** Calls that arrived before a communicator took the endpoint (peers may be faster). */
  private closed = false;

  private constructor(private readonly server: grpc.Server, readonly address: string) {}

  static async bind(address: string, security: TransportSecurity): Promise<GrpcListener> {
    const server = new grpc.Server(SERVER_OPTIONS);
    const token = security.clusterToken ?? '';
    let listener: GrpcListener | undefined;
    server.register<Buffer, Buffer>(EXCHANGE_PATH, (call: SendStream) => {
      const given = call.metadata.get(CLUSTER_TOKEN_HEADER)[0];
      const sent = typeof given === 'string' ? given : undefined;
      if (token !== '' && !tokenMatches(token, sent)) {
        refuse(call, grpc.status.UNAUTHENTICATED, tokenRefusal(listener?.address ?? address, sent));
      } else if (listener === undefined || listener.closed) {
        call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'this endpoint is closed' });
      } else {
        listener.inbox.offer(new GrpcAcceptedLink(call));
      }
    }, identity, identity, 'bidi');
    const host = hostOf(address);
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(address, serverCredentials(security), (err, p) => {
        if (err !== null) reject(new CollectiveError('INVALID_ARGUMENT', `cannot listen on ${address}: ${err.message}`));
        else resolve(p);
      });
    });
    listener = new GrpcListener(server, `${host}:${port}`);
    return listener;
  }

  serve(handler: (link: AcceptedLink) => void): void {
    this.inbox.serve(handler, this.address);
  }

  dial(address: string, handlers: DialedLinkHandlers, security: TransportSecurity): DialedLink {
    return new PeerConnection(address, handlers, security);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.server.forceShutdown();
  }
}

/**
 * A bound collective endpoint. Bind it first (port 0 picks a free port), share
 * `address` with the other ranks, then hand it to Communicator.create.
 *
 * With a cluster token, a caller that does not carry it is refused with
 * UNAUTHENTICATED before any of its frames is read; with TLS, only callers
 * with a certificate from the cluster's CA get a connection at all. Both
 * fabrics (fabric.ts) keep these rules.
 */
export class Endpoint {
  private closed = false;

  private constructor(private readonly listener: LinkListener, readonly fabric: Fabric, private readonly security: TransportSecurity) {}

  /** This endpoint's address (host:port). */
  get address(): string { return this.listener.address; }

  /** Binds `address` (host:port; port 0 = any free port), admitting only callers that meet `options` (token, TLS). */
  static async bind(address: string, options: EndpointOptions = {}): Promise<Endpoint> {
    const fabric = resolveFabric(options.fabric, 'the endpoint\'s fabric option');
    const security: TransportSecurity = { clusterToken: options.clusterToken, tls: options.tls };
    const listener = fabric === 'grpc' ? await GrpcListener.bind(address, security) : await SocketListener.bind(address, security);
    return new Endpoint(listener, fabric, security);
  }

  /**
   * Whether a communicator that dials with `security` belongs behind this
   * endpoint: the same token and both or neither on TLS. A rank that admitted
   * callers by other rules than it dials with would form half a world.
   */
  matches(security: TransportSecurity): boolean {
    return (this.security.clusterToken ?? '') === (security.clusterToken ?? '') && (this.security.tls === undefined) === (security.tls === undefined);
  }

  /** Routes incoming links to `handler` (one communicator per endpoint). */
  serve(handler: (link: AcceptedLink) => void): void {
    this.listener.serve(handler);
  }

  /** Opens a link to the endpoint at `address` (of the same fabric), on which that peer sends to this rank. */
  dial(address: string, handlers: DialedLinkHandlers, security: TransportSecurity): DialedLink {
    return this.listener.dial(address, handlers, security);
  }

  get isClosed(): boolean { return this.closed; }

  /** Stops listening and drops every connection at once. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.listener.close();
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
