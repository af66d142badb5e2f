// The socket fabric: one TCP connection per direction between two ranks
// (node:net, or node:tls with mutual TLS against the cluster's CA), carrying
// records of [flag u8][length u32 BE][body] (length-prefixed.ts). Between ranks
// on one host the connection is a Unix-domain socket instead (see localPath):
// same records, same checks, no TCP stack.
//
//   OPEN   (dialer → acceptor, the first record): magic, link version, cluster token
//   FRAME  (both ways): one frame exactly as frame-codec.ts encodes it
//   REFUSE (acceptor → dialer, the last record): a status code and why
//   PAD    (both ways): filler, so that every record starts 4-byte aligned in the stream
//
// The acceptor checks the OPEN record (the cluster token) before it reads
// any frame and refuses a wrong one with UNAUTHENTICATED, as the gRPC fabric
// does; the mesh then sees the same frames and statuses on either fabric.
//
// The 5-byte record prefix is the gRPC message prefix, so frame-codec's DATA
// padding puts payloads 4-byte aligned in the received bytes here too. Each
// frame goes out as one write of prefix and frame: small frames are copied
// with their prefix into a bump-allocated slab, large ones are sent as a
// corked pair (one writev). Nothing written is ever changed afterwards: the
// slab is never rewound, a full one is replaced.
import net from 'node:net';
import tls from 'node:tls';
import { tokenMatches, tokenRefusal } from './auth.js';
import type { TransportSecurity } from './auth.js';
import { CollectiveError } from './errors.js';
import { Deframer, OVERSIZED, RECORD_PREFIX_BYTES } from './length-prefixed.js';
import { LinkInbox, LinkStatus } from './link.js';
import type { AcceptedLink, AcceptedLinkHandlers, DialedLink, DialedLinkHandlers, LinkListener } from './link.js';
import { MAX_OPEN_BYTES, OPEN_TIMEOUT_MS, RETRY_FIRST_MS, RETRY_MAX_MS, RecordFlag, RecordWriter, openRecord, readOpen, refuseRecord, splitAddress } from './socket-records.js';

// ------------------------------------------------------------ local links

/** The environment variable that sends same-host links over TCP ('tcp') instead of Unix-domain sockets ('unix', the default on Linux). */
export const SOCKET_LOCAL_ENV = 'OCTOSERVE_SOCKET_LOCAL';

/**
 * Where an endpoint bound to a loopback host:port also accepts links: a Linux abstract
 * Unix-domain socket named after that address (so two endpoints never share one, and nothing
 * is left on disk). Undefined off Linux, on other hosts and under mutual TLS (TLS runs over TCP).
 * Two Node processes on 2 cores, ping-pong p50: 1 KiB 26 -> 17 us, 4 KiB 28 -> 14 us, 256 KiB
 * 330 -> 209 us, 1 MiB 1.37 -> 0.69 ms against TCP loopback.
 */
export function localPath(host: string, port: number, security: TransportSecurity): string | undefined {
  if (process.platform !== 'linux' || security.tls !== undefined) return undefined;
  if (host !== 'localhost' && host !== '::1' && !/^127\.\d+\.\d+\.\d+$/.test(host)) return undefined;
  return `\0octoserve-fabric-${host}-${port}`;
}

/** Whether dialers take the local path ($OCTOSERVE_SOCKET_LOCAL, read when a link is made). */
function dialLocal(): boolean {
  const v = process.env[SOCKET_LOCAL_ENV];
  if (v === undefined || v === '' || v === 'unix') return true;
  if (v === 'tcp') return false;
  throw new CollectiveError('INVALID_ARGUMENT', `${SOCKET_LOCAL_ENV} is '${v}'; expected unix or tcp`);
}

// ------------------------------------------------------------ accepting side

/** A connection a peer opened on this endpoint, after its OPEN record passed. */
class SocketAcceptedLink implements AcceptedLink {
  private handlers: AcceptedLinkHandlers | undefined;
  private early: Buffer[] = [];          // frames that came before a communicator took the link
  private reported = false;
  private ended = false;

  constructor(private readonly socket: net.Socket, private readonly writer: RecordWriter) {}

  /** A frame record from the peer (the listener deframes). */
  frame(body: Buffer): void {
    if (this.handlers === undefined) this.early.push(body);
    else this.handlers.onMessage(body);
  }

  lost(what: 'dropped' | 'broke', reason: string | undefined): void {
    if (this.reported || this.ended) return;
    this.reported = true;
    this.handlers?.onLost(what, reason);
  }

  listen(handlers: AcceptedLinkHandlers): void {
    this.handlers = handlers;
    const early = this.early;
    this.early = [];
    for (const f of early) handlers.onMessage(f);
  }

  write(frame: Buffer, written?: () => void): void {
    if (this.ended) return;
    this.writer.write(RecordFlag.FRAME, frame, written);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.socket.end();
  }

  get writableEnded(): boolean { return this.ended || this.socket.writableEnded || this.socket.destroyed; }

  refuse(code: number, details: string): void {
    if (this.ended) return;
    this.writer.write(RecordFlag.REFUSE, refuseRecord(code, details));
    this.end();
  }
}

/** The socket fabric's listening side: a net (or tls) server that checks OPEN records and hands links over. */
export class SocketListener implements LinkListener {
  private readonly inbox = new LinkInbox();
  private readonly sockets = new Set<net.Socket>();
  private closed = false;

  /** The Unix-domain server beside the TCP one, for dialers on this host. */
  private local: net.Server | undefined;

  private constructor(private readonly server: net.Server, readonly address: string, private readonly security: TransportSecurity) {}

  static async bind(address: string, security: TransportSecurity): Promise<SocketListener> {
    const { host, port } = splitAddress(address);
    const t = security.tls;
    const server = t === undefined
      ? net.createServer({ noDelay: true })
      : tls.createServer({ ca: t.ca, cert: t.cert, key: t.key, requestCert: true, rejectUnauthorized: true });
    let listener: SocketListener | undefined;
    server.on(t === undefined ? 'connection' : 'secureConnection', (socket: net.Socket) => {
      if (listener === undefined || listener.closed) { socket.destroy(); return; }
      listener.admit(socket);
    });
    // A caller whose TLS handshake fails (no certificate, a foreign CA) never gets a link.
    server.on('tlsClientError', (_err: Error, socket: net.Socket) => { socket.destroy(); });
    const bound = await new Promise<number>((resolve, reject) => {
      server.once('error', (err: Error) => reject(new CollectiveError('INVALID_ARGUMENT', `cannot listen on ${address}: ${err.message}`)));
      server.listen({ host, port }, () => resolve((server.address() as net.AddressInfo).port));
    });
    server.on('error', () => { /* a listening server has nothing left to fail; sockets report their own errors */ });
    listener = new SocketListener(server, `${address.slice(0, address.lastIndexOf(':'))}:${bound}`, security);
    const path = localPath(host, bound, security);
    if (path !== undefined) {
      try {
        listener.local = await listener.listenLocal(path);
      } catch (err) {
        server.close();
        throw err;
      }
    }
    return listener;
  }

  /** Accepts on `path` beside the TCP server: the same admission (OPEN record, token) for each connection. */
  private listenLocal(path: string): Promise<net.Server> {
    const server = net.createServer((socket) => this.admit(socket));
    return new Promise((resolve, reject) => {
      server.once('error', (err: Error) => reject(new CollectiveError('INVALID_ARGUMENT', `cannot listen on the local socket for ${this.address}: ${err.message}`)));
      server.listen(path, () => {
        server.on('error', () => { /* as for the TCP server */ });
        resolve(server);
      });
    });
  }

  /** Reads the OPEN record of a new connection: the cluster token first, then the link is handed over. */
  private admit(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.setNoDelay(true);
    const writer = new RecordWriter(socket);
    let link: SocketAcceptedLink | undefined;
    let refused = false;
    const refuse = (code: number, details: string): boolean => {
      clearTimeout(openTimer);
      refused = true;
      writer.write(RecordFlag.REFUSE, refuseRecord(code, details));
      socket.end();
      return false;
    };
    const deframer = new Deframer((flag, body) => {
      if (refused) return false;
      if (flag === RecordFlag.PAD) return true;
      if (link !== undefined) {
        if (flag === RecordFlag.FRAME) { link.frame(body); return true; }
        link.lost('broke', flag === OVERSIZED ? 'an oversized record' : `a record of unknown kind ${flag}`);
        socket.destroy();
        return false;
      }
      if (flag !== RecordFlag.OPEN) return refuse(LinkStatus.INVALID_ARGUMENT, flag === OVERSIZED
        ? 'the first record on a collective link is too long for an OPEN record'
        : 'the first record on a collective link must be OPEN; this is not an octoserve collective link');
      const open = readOpen(body);
      if ('problem' in open) return refuse(LinkStatus.INVALID_ARGUMENT, open.problem);
      const token = this.security.clusterToken ?? '';
      const sent = open.token === '' ? undefined : open.token;
      if (token !== '' && !tokenMatches(token, sent)) return refuse(LinkStatus.UNAUTHENTICATED, tokenRefusal(this.address, sent));
      if (this.closed) return refuse(LinkStatus.UNAVAILABLE, 'this endpoint is closed');
      clearTimeout(openTimer);
      deframer.maxBytes = Infinity;
      link = new SocketAcceptedLink(socket, writer);
      this.inbox.offer(link);
      return true;
    });
    deframer.maxBytes = MAX_OPEN_BYTES;
    const openTimer = setTimeout(() => {
      if (link === undefined && !refused) refuse(LinkStatus.INVALID_ARGUMENT, `no OPEN record within ${OPEN_TIMEOUT_MS} ms`);
    }, OPEN_TIMEOUT_MS);
    openTimer.unref();
    socket.on('data', (chunk: Buffer) => deframer.push(chunk));
    socket.on('error', (err: Error) => { link?.lost('broke', err.message); });
    socket.on('end', () => { link?.lost('dropped', undefined); });
    socket.on('close', () => { clearTimeout(openTimer); this.sockets.delete(socket); link?.lost('dropped', undefined); });
  }

  serve(handler: (link: AcceptedLink) => void): void {
    this.inbox.serve(handler, this.address);
  }

  dial(address: string, handlers: DialedLinkHandlers, security: TransportSecurity): DialedLink {
    return new SocketConnection(address, handlers, security);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.server.close();
    this.local?.close();
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }
}

// ------------------------------------------------------------ dialing side

/** Reads go straight into a record still missing at least this much (no copy of large frames). */
const DIRECT_READ_MIN = 64 * 1024;
/** A read into the slab gets at least this much room. */
const READ_ROOM = 64 * 1024;
const READ_SLAB_BYTES = 1024 * 1024;

/**
 * Where the socket reads of one dialed link land. Small records are read into
 * a bump-allocated slab, back to back as they came, and handed on as views of
 * it (never rewound, a full slab is replaced), placed so that a byte's address
 * is congruent to its stream offset mod 8: as every record starts 4-aligned
 * in the stream, so does its DATA payload in memory. The rest of a large
 * record is read straight into the buffer the Deframer fills.
 */
class ReceiveBuffer {
  private slab = Buffer.allocUnsafe(READ_SLAB_BYTES);
  private pos = 0;
  private streamAt = 0;
  private direct = false;
  private lastAt = 0;

  constructor(private readonly deframer: Deframer) {}

  /** The buffer the next read goes into. */
  next(): Buffer {
    const target = this.deframer.fillTarget(DIRECT_READ_MIN);
    if (target !== undefined) { this.direct = true; return target; }
    this.direct = false;
    if (this.slab.length - this.pos < READ_ROOM + 8) { this.slab = Buffer.allocUnsafe(READ_SLAB_BYTES); this.pos = 0; }
    this.pos += (this.streamAt - (this.slab.byteOffset + this.pos)) & 7;
    this.lastAt = this.pos;
    return this.slab.subarray(this.pos);
  }

  /** `n` bytes were read into the buffer next() returned. */
  landed(n: number): void {
    this.streamAt += n;
    if (this.direct) { this.deframer.filled(n); return; }
    this.pos = this.lastAt + n;
    this.deframer.push(this.slab.subarray(this.lastAt, this.pos));
  }
}

/**
 * One link to a peer's endpoint, on which the peer sends to this rank. Until
 * the peer answers (its first record), a failed connection is retried with
 * backoff, so ranks may start in any order; after that any break is final
 * and reported through onStatus.
 */
export class SocketConnection implements DialedLink {
  private socket: net.Socket | undefined;
  private writer: RecordWriter | undefined;
  private answered = false;
  private ended = false;
  private retryMs = RETRY_FIRST_MS;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly sent: Buffer[] = [];   // frames replayed on a retried attempt
  private lastError: string | undefined;
  private readonly host: string;
  private readonly port: number;
  /** The peer's local socket, when it is on this host and dialers take it. */
  private readonly path: string | undefined;

  constructor(private readonly address: string, private readonly handlers: DialedLinkHandlers, private readonly security: TransportSecurity = {}) {
    ({ host: this.host, port: this.port } = splitAddress(address));
    this.path = dialLocal() ? localPath(this.host, this.port, security) : undefined;
    this.attempt();
  }

  get lastFailure(): string | undefined { return this.answered ? undefined : this.lastError; }

  private attempt(): void {
    const t = this.security.tls;
    let socket: net.Socket;
    const deframer = new Deframer((flag, body) => this.record(socket, flag, body));
    if (t === undefined) {
      // Plain reads land in this link's own memory (see ReceiveBuffer), not in a stream's chunks.
      const rb = new ReceiveBuffer(deframer);
      const onread = { buffer: () => rb.next(), callback: (n: number) => { if (this.socket === socket) rb.landed(n); return true; } };
      const path = this.path;
      socket = path !== undefined ? net.connect({ path, onread }) : net.connect({ host: this.host, port: this.port, noDelay: true, onread });
    } else {
      socket = tls.connect({ host: this.host, port: this.port, ca: t.ca, cert: t.cert, key: t.key });
      socket.on('data', (chunk: Buffer) => { if (this.socket === socket) deframer.push(chunk); });
    }
    socket.setNoDelay(true);
    this.socket = socket;
    const writer = new RecordWriter(socket);
    this.writer = writer;
    socket.on('error', (err: Error) => { if (this.socket === socket) this.broken(`connection to ${this.address} failed: ${err.message}`); });
    socket.on('end', () => {
      if (this.socket !== socket) return;
      if (this.answered) this.finish(LinkStatus.OK, '');
      else this.broken(`${this.address} closed the connection before answering`);
    });
    socket.on('close', () => { if (this.socket === socket) this.broken(`the connection to ${this.address} closed`); });
    writer.write(RecordFlag.OPEN, openRecord(this.security.clusterToken ?? ''));
    for (const f of this.sent) writer.write(RecordFlag.FRAME, f);
  }

  private record(socket: net.Socket, flag: number, body: Buffer): boolean {
    if (this.ended || this.socket !== socket) return false;
    if (flag === RecordFlag.PAD) return true;
    this.answered = true;
    if (flag === RecordFlag.FRAME) {
      this.handlers.onMessage(body);
      return !this.ended;
    }
    if (flag === RecordFlag.REFUSE && body.length >= 1) {
      this.fail(body[0] as number, body.subarray(1).toString('utf8'));
      return false;
    }
    this.fail(LinkStatus.INTERNAL, `${this.address} sent a record of unknown kind ${flag}`);
    return false;
  }

  /** A failure of the connection: retried while the peer has not answered yet, final after. */
  private broken(details: string): void {
    if (this.ended) return;
    if (!this.answered) {
      this.lastError = details;
      const s = this.socket;
      this.socket = undefined;
      s?.destroy();
      if (this.retryTimer === undefined) {
        this.retryTimer = setTimeout(() => { this.retryTimer = undefined; if (!this.ended) this.attempt(); }, this.retryMs);
        this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
      }
      return;
    }
    this.fail(LinkStatus.UNAVAILABLE, details);
  }

  private fail(code: number, details: string): void {
    if (this.ended) return;
    this.socket?.destroy();
    this.finish(code, details);
  }

  private finish(code: number, details: string): void {
    if (this.ended) return;
    this.ended = true;
    this.handlers.onStatus(code, details);
  }

  write(frame: Buffer): void {
    if (this.ended) return;
    if (!this.answered) this.sent.push(frame);
    if (this.socket !== undefined) this.writer?.write(RecordFlag.FRAME, frame);
  }

  drop(): void {
    this.ended = true;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.socket?.destroy();
  }
}
