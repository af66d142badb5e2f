// The receiving side of an Exchange stream: a minimal gRPC client over
// node:http2 (POST /octoserve.v1.Collective/Exchange, application/grpc,
// 5-byte length-prefixed messages, status in trailers), talking to the
// grpc-js server of the peer.
//
// Why not a grpc-js client: its call stack (a duplex stream over four call
// layers, an async filter per message, pause/resume of the HTTP/2 stream per
// message) measured ~45 µs of CPU per received message with 8 ranks on 2
// cores, where every message lands on a cache-cold process; that was a third
// of a small all-reduce. Here a message costs a deframe and a callback, and
// the session's HTTP/2 settings are ours: a 64 MiB flow-control window (the
// 64 KiB default stalls a sender whenever the receiver is descheduled) and
// the largest frame size (fewer DATA frames per chunk).
//
// The call carries the cluster token (auth.ts) as metadata; under mutual TLS
// the session is https with this rank's certificate, checked against the
// cluster's CA (and the peer's certificate against the host it is dialed by).
import http2 from 'node:http2';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { CLUSTER_TOKEN_HEADER } from './auth.js';
import type { TransportSecurity } from './auth.js';
import { Deframer } from './length-prefixed.js';
import type { DialedLink, DialedLinkHandlers } from './link.js';

/** How a receive stream reports to its owner. */
export type ExchangeHandlers = DialedLinkHandlers;

/** The Collective service's one bidi method. */
export const EXCHANGE_PATH = '/octoserve.v1.Collective/Exchange';

const WINDOW_BYTES = 64 * 1024 * 1024;
const MAX_FRAME_BYTES = (1 << 24) - 1;
const RETRY_FIRST_MS = 20;
const RETRY_MAX_MS = 500;

const {
  HTTP2_HEADER_METHOD, HTTP2_HEADER_PATH, HTTP2_HEADER_SCHEME, HTTP2_HEADER_AUTHORITY,
  HTTP2_HEADER_CONTENT_TYPE, HTTP2_HEADER_TE, HTTP2_HEADER_STATUS,
} = http2.constants;

/**
 * One Exchange call to a peer. Until the peer answers (response headers), a
 * refused connection is retried with backoff, so ranks may start in any
 * order; after that any break is final and reported through onStatus.
 */
export class PeerConnection implements DialedLink {
  private session: http2.ClientHttp2Session | undefined;
  private stream: http2.ClientHttp2Stream | undefined;
  private answered = false;
  private ended = false;
  private retryMs = RETRY_FIRST_MS;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly sent: Buffer[] = [];   // framed messages, replayed on a retried attempt
  private readonly deframer = new Deframer((flag, message) => this.deliver(flag, message));
  private statusCode: number | undefined;
  private statusDetails = '';
  private lastError: string | undefined;

  constructor(private readonly address: string, private readonly handlers: ExchangeHandlers, private readonly security: TransportSecurity = {}) {
    this.attempt();
  }

  /** Why the last unanswered attempt failed (a refused connection, a TLS handshake), for a formation timeout. */
  get lastFailure(): string | undefined { return this.answered ? undefined : this.lastError; }

  private attempt(): void {
    const tls = this.security.tls;
    const session = http2.connect(`${tls === undefined ? 'http' : 'https'}://${this.address}`, {
      settings: { initialWindowSize: WINDOW_BYTES, maxFrameSize: MAX_FRAME_BYTES, enablePush: false },
      maxSessionMemory: 1 << 20, // MiB: large chunks in flight are normal here
      ...(tls === undefined ? {} : { ca: tls.ca, cert: tls.cert, key: tls.key }),
    });
    this.session = session;
    session.on('connect', () => session.setLocalWindowSize(WINDOW_BYTES));
    session.on('error', (err: Error) => this.broken(GrpcStatus.UNAVAILABLE, `connection to ${this.address} failed: ${err.message}`));
    session.on('goaway', () => this.broken(GrpcStatus.UNAVAILABLE, `${this.address} closed the connection (GOAWAY)`));
    const token = this.security.clusterToken ?? '';
    const stream = session.request({
      [HTTP2_HEADER_METHOD]: 'POST',
      [HTTP2_HEADER_PATH]: EXCHANGE_PATH,
      [HTTP2_HEADER_SCHEME]: tls === undefined ? 'http' : 'https',
      [HTTP2_HEADER_AUTHORITY]: this.address,
      [HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
      [HTTP2_HEADER_TE]: 'trailers',
      ...(token === '' ? {} : { [CLUSTER_TOKEN_HEADER]: token }),
    }, { endStream: false });
    this.stream = stream;
    stream.on('response', (headers) => {
      this.answered = true;
      const httpStatus = Number(headers[HTTP2_HEADER_STATUS]);
      if (httpStatus !== 200) this.setStatus(GrpcStatus.UNKNOWN, `${this.address} answered HTTP ${httpStatus}`);
      this.readStatus(headers); // a trailers-only answer (a refusal) carries the status here
      // ... and ends the call: report it now, not when our half of the stream closes (it never would)
      if (this.statusCode !== undefined) this.fail(this.statusCode, this.statusDetails);
    });
    stream.on('trailers', (trailers) => this.readStatus(trailers));
    stream.on('data', (chunk: Buffer) => this.deframer.push(chunk));
    stream.on('close', () => {
      if (this.statusCode !== undefined) { this.finish(this.statusCode, this.statusDetails); return; }
      this.broken(GrpcStatus.UNAVAILABLE, `the stream from ${this.address} closed without a status (HTTP/2 code ${stream.rstCode ?? 'none'})`);
    });
    stream.on('error', (err: Error) => this.broken(GrpcStatus.UNAVAILABLE, `the stream from ${this.address} failed: ${err.message}`));
    for (const m of this.sent) stream.write(m);
  }

  private readStatus(headers: http2.IncomingHttpHeaders): void {
    const code = headers['grpc-status'];
    if (code === undefined) return;
    const message = headers['grpc-message'];
    let details = typeof message === 'string' ? message : '';
    try { details = decodeURI(details); } catch { /* keep the raw text: a badly encoded message is still worth showing */ }
    this.setStatus(Number(code), details);
  }

  private setStatus(code: number, details: string): void {
    if (this.statusCode === undefined) { this.statusCode = code; this.statusDetails = details; }
  }

  /** One gRPC message ([compressed flag][u32 BE length][message], split by the Deframer). */
  private deliver(flag: number, message: Buffer): boolean {
    if (flag !== 0) { this.fail(GrpcStatus.INTERNAL, `${this.address} sent a compressed message; this stream accepts identity only`); return false; }
    this.handlers.onMessage(message);
    return !this.ended;
  }

  /** A failure of the transport: retried while the peer has not answered yet, final after. */
  private broken(code: number, details: string): void {
    if (this.ended) return;
    if (!this.answered) {
      this.lastError = details;
      this.session?.destroy();
      if (this.retryTimer === undefined) {
        this.retryTimer = setTimeout(() => { this.retryTimer = undefined; if (!this.ended) this.attempt(); }, this.retryMs);
        this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
      }
      return;
    }
    this.fail(code, details);
  }

  private fail(code: number, details: string): void {
    if (this.ended) return;
    this.stream?.close(http2.constants.NGHTTP2_CANCEL);
    this.session?.destroy();
    this.finish(code, details);
  }

  private finish(code: number, details: string): void {
    if (this.ended) return;
    this.ended = true;
    this.handlers.onStatus(code, details);
  }

  /** Queues one message to the peer (`message` must not change afterwards). */
  write(message: Buffer): void {
    const framed = Buffer.allocUnsafe(message.length + 5);
    framed[0] = 0;
    framed.writeUInt32BE(message.length, 1);
    message.copy(framed, 5);
    if (!this.answered) this.sent.push(framed);
    this.stream?.write(framed);
  }

  /** Cancels the call and closes the connection; no status is reported after this. */
  drop(): void {
    this.ended = true;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.stream?.close(http2.constants.NGHTTP2_CANCEL);
    this.session?.close();
  }
}
