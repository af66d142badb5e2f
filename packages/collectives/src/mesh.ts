// The full mesh of one rank: a checked stream to and from every peer, world
// formation (HELLO both ways), delivery of DATA frames into per-peer
// mailboxes, failure detection, ABORT and the GOODBYE close protocol.
//
// Link roles (see collective.proto): `out[p]` is the link peer p opened on
// our endpoint, on which we send to p; `conn[p]` is the link we opened on p's
// endpoint, on which p sends to us. Either fabric (fabric.ts) provides the
// links (link.ts); the protocol here is the same on both.
import type { TransportSecurity } from './auth.js';
import { CollectiveError, describeError } from './errors.js';
import { decodeFrame, encodeAbortFrame, encodeGoodbyeFrame, encodeHelloFrame, FrameKind } from './frame-codec.js';
import type { Frame } from './frame-codec.js';
import { checkHelloReply, checkIncomingHello, helloFrom } from './handshake.js';
import type { Identity } from './handshake.js';
import { Mailbox } from './mailbox.js';
import { LinkStatus, linkStatusText } from './link.js';
import type { AcceptedLink, DialedLink } from './link.js';
import type { Fabric } from './fabric.js';
import type { Endpoint } from './transport.js';

interface Peer {
  rank: number;
  address: string;
  name: string;                    // "rank 3 (127.0.0.1:4103)", for messages
  out: AcceptedLink | undefined;
  conn: DialedLink | undefined;
  accepted: boolean;               // conn got the peer's HELLO
  box: Mailbox;
  goodbyeSeq: number | undefined;  // the peer closed after this many operations
  goodbyeSent: boolean;
  gone: boolean;                   // a stream to or from the peer has ended
}

/** How long a failing rank keeps its connections so its ABORT frames get out. */
const ABORT_LINGER_MS = 100;

/** How long a rank whose outgoing stream broke waits for that peer's ABORT before reporting the break. */
const BROKEN_STREAM_GRACE_MS = 20;

export class Mesh {
  private readonly peers: (Peer | undefined)[];
  /** Every peer but this rank, in rank order. */
  private readonly others: readonly Peer[];
  private failure: CollectiveError | undefined;
  private closing = false;
  private tornDown = false;
  private ready = false;
  private formed: { resolve: () => void; reject: (e: Error) => void } | undefined;
  private closeWaiter: (() => void) | undefined;
  get fabric(): Fabric { return this.endpoint.fabric; }

  /** The last operation this rank finished (frames for it are refused). */
  finishedSeq = 0;

  constructor(private readonly me: Identity, addresses: readonly string[], private readonly endpoint: Endpoint, private readonly security: TransportSecurity = {}) {
    this.peers = addresses.map((address, rank) => rank === me.rank ? undefined : {
      rank, address, name: `rank ${rank} (${address})`, out: undefined, conn: undefined, accepted: false,
      box: new Mailbox(`rank ${rank} (${address})`), goodbyeSeq: undefined, goodbyeSent: false, gone: false,
    });
    this.others = this.peers.filter((p): p is Peer => p !== undefined);
  }

  /** Connects to every peer and accepts every peer; resolves when all 2(N-1) streams are checked. */
  form(timeoutMs: number): Promise<void> {
    const done = new Promise<void>((resolve, reject) => { this.formed = { resolve, reject }; });
    const timer = setTimeout(() => {
      const missingOut = this.others.filter((p) => p.out === undefined).map((p) => p.name);
      const missingIn = this.others.filter((p) => !p.accepted).map((p) => p.name);
      // a peer that never answered: the last connection error says why (refused, TLS handshake)
      const why = this.others.flatMap((p) => (p.accepted || p.conn?.lastFailure === undefined ? [] : [`${p.name}: ${p.conn.lastFailure}`]));
      this.fail(new CollectiveError('DEADLINE', `communicator '${this.me.communicatorId}' did not form within ${timeoutMs} ms on rank ${this.me.rank}: ` +
        `no accepted stream to ${missingIn.join(', ') || 'nobody'}; none from ${missingOut.join(', ') || 'nobody'}` +
        (why.length > 0 ? `; last connection errors: ${why.join('; ')}` : '')));
    }, timeoutMs);
    this.endpoint.serve((link) => this.accept(link));
    for (const p of this.others) this.dial(p);
    this.checkFormed();
    return done.finally(() => clearTimeout(timer));
  }

  private checkFormed(): void {
    if (this.ready || this.failure !== undefined) return;
    if (this.others.every((p) => p.out !== undefined && p.accepted)) {
      this.ready = true;
      this.formed?.resolve();
    }
  }

  // ------------------------------------------------------------ our server side: peers that receive from us

  private accept(call: AcceptedLink): void {
    let hello = true;
    let peer: Peer | undefined;
    let refused = false;
    const refuseWith = (code: number, message: string, fatal: boolean): void => {
      refused = true;
      call.refuse(code, message);
      if (fatal && !this.ready) this.fail(new CollectiveError('MISMATCH', `refused a connection: ${message}`));
    };
    call.listen({
      onMessage: (buf: Buffer) => {
        if (refused) return;
        if (hello) {
          hello = false;
          let f: Frame;
          try { f = decodeFrame(buf); } catch (err) { refuseWith(LinkStatus.INVALID_ARGUMENT, describeError(err), false); return; }
          if (f.kind !== FrameKind.HELLO || f.hello === undefined) {
            refuseWith(LinkStatus.INVALID_ARGUMENT, 'the first frame on an Exchange stream must be HELLO', false);
            return;
          }
          if (this.failure !== undefined) {
            // failed before this peer dialed: tell it why, as the ABORT it would have got
            refuseWith(LinkStatus.ABORTED, `rank ${this.me.rank} aborted: ${this.failure.message}`, false);
            return;
          }
          if (this.closing) { refuseWith(LinkStatus.UNAVAILABLE, `rank ${this.me.rank} is shutting down`, false); return; }
          const h = f.hello;
          const problem = checkIncomingHello(this.me, h);
          if (problem !== undefined) { refuseWith(LinkStatus.FAILED_PRECONDITION, problem, true); return; }
          const p = this.peers[h.rank] as Peer;
          if (p.out !== undefined || this.ready) {
            refuseWith(LinkStatus.ALREADY_EXISTS, `rank ${h.rank} is already connected to rank ${this.me.rank} in communicator '${this.me.communicatorId}'`, false);
            return;
          }
          peer = p;
          p.out = call;
          call.write(encodeHelloFrame(helloFrom(this.me, h.rank)));
          this.checkFormed();
          return;
        }
        if (peer !== undefined) this.onControl(peer, buf);
      },
      onLost: (what, reason) => {
        if (refused || peer === undefined) return; // a refused or never-identified link: nothing of ours depends on it
        // the link reports a drop after it sent our own end too (GOODBYE, ABORT);
        // a peer that dies after that is noticed on the link it sends us.
        if (peer.goodbyeSent) return;
        const how = what === 'dropped' ? 'dropped the stream this rank sends on' : 'broke the stream this rank sends on';
        const gone = peer;
        // A peer that closes the stream we send on has usually failed and sent its ABORT, which
        // names the cause, on the stream it sends us: on a busy host that frame may still wait to
        // be read. Reading it first (one turn of the event loop) reports the cause, not the echo.
        setTimeout(() => this.peerGone(gone, `${gone.name} ${how}${reason === undefined ? '' : `: ${reason}`}`), BROKEN_STREAM_GRACE_MS).unref();
      },
    });
  }

  /** Frames a receiver may send back on the stream we send on: only ABORT or GOODBYE. */
  private onControl(p: Peer, buf: Buffer): void {
    let f: Frame;
    try { f = decodeFrame(buf); } catch (err) { this.fail(new CollectiveError('PROTOCOL', `${p.name}: ${describeError(err)}`)); return; }
    if (f.kind === FrameKind.ABORT) this.peerAborted(p, f);
    else if (f.kind !== FrameKind.GOODBYE) this.fail(new CollectiveError('PROTOCOL', `${p.name} sent frame kind ${f.kind} on the stream this rank sends on`));
  }

  // ------------------------------------------------------------ our client side: peers we receive from

  private dial(p: Peer): void {
    p.conn = this.endpoint.dial(p.address, {
      onMessage: (buf) => this.onFrame(p, buf),
      onStatus: (code, details) => {
        if (code === LinkStatus.OK) { this.peerGone(p, `${p.name} ended its stream without GOODBYE`); return; }
        const status = linkStatusText(code, details);
        if (!p.accepted && !this.ready) {
          // a refused HELLO or cluster token: the ranks disagree about which world they are in
          const mismatch = code === LinkStatus.FAILED_PRECONDITION || code === LinkStatus.UNAUTHENTICATED;
          const kind = mismatch ? 'MISMATCH' : code === LinkStatus.ABORTED ? 'PEER_ABORTED' : 'PEER_LOST';
          this.fail(new CollectiveError(kind, `${p.name} refused this rank (rank ${this.me.rank}): ${status}`));
          return;
        }
        this.peerGone(p, `lost the stream from ${p.name}: ${status}`);
      },
    }, this.security);
    p.conn.write(encodeHelloFrame(helloFrom(this.me, p.rank)));
  }

  private onFrame(p: Peer, buf: Buffer): void {
    if (this.failure !== undefined) return; // the mesh is down; late frames no longer matter
    let f: Frame;
    try { f = decodeFrame(buf); } catch (err) { this.fail(new CollectiveError('PROTOCOL', `${p.name}: ${describeError(err)}`)); return; }
    if (f.kind === FrameKind.DATA) {
      if (!p.accepted) { this.fail(new CollectiveError('PROTOCOL', `${p.name} sent DATA before HELLO`)); return; }
      const err = p.box.push(f, this.finishedSeq);
      if (err !== undefined) this.fail(err);
    } else if (f.kind === FrameKind.HELLO && f.hello !== undefined && !p.accepted) {
      const problem = checkHelloReply(this.me, p.rank, p.address, f.hello);
      if (problem !== undefined) { this.fail(new CollectiveError('MISMATCH', problem)); return; }
      p.accepted = true;
      this.checkFormed();
    } else if (f.kind === FrameKind.ABORT) {
      this.peerAborted(p, f);
    } else if (f.kind === FrameKind.GOODBYE) {
      p.goodbyeSeq = f.seq;
      p.box.end(new CollectiveError('PEER_LOST', `${p.name} closed the communicator after ${f.seq} operations; this rank still expected its data`));
      this.sendGoodbye(p);
      this.closeWaiter?.();
    } else {
      this.fail(new CollectiveError('PROTOCOL', `${p.name} sent an unexpected frame of kind ${f.kind}`));
    }
  }

  private peerAborted(p: Peer, f: Frame): void {
    const reason = f.abort?.reason ?? 'no reason given';
    this.fail(new CollectiveError('PEER_ABORTED', `${p.name} aborted: ${reason}`));
  }

  /** A stream to or from `p` ended. Expected after GOODBYE or while closing; a failure otherwise. */
  private peerGone(p: Peer, message: string): void {
    p.gone = true;
    if (this.closing || p.goodbyeSeq !== undefined || this.failure !== undefined) {
      this.closeWaiter?.();
      return;
    }
    this.fail(new CollectiveError('PEER_LOST', message));
  }

  // ------------------------------------------------------------ data path

  /**
   * Queues `frame` to `peer`. Both fabrics keep a reference to the buffer until it is written,
   * so nobody may change it before `written` runs (a link that cannot tell never runs it).
   */
  send(peer: number, frame: Buffer, written?: () => void): void {
    const p = this.peers[peer] as Peer;
    if (this.failure !== undefined) throw this.failure;
    if (p.goodbyeSeq !== undefined) {
      throw new CollectiveError('PEER_LOST', `${p.name} closed the communicator after ${p.goodbyeSeq} operations; this rank still sends to it`);
    }
    (p.out as AcceptedLink).write(frame, written);
  }

  /** The next frame of operation `seq` from `peer`; a wait polls for up to `spinUs` before it sleeps. */
  next(peer: number, seq: number, spinUs = 0): Frame | Promise<Frame> {
    if (this.failure !== undefined) throw this.failure;
    return (this.peers[peer] as Peer).box.next(seq, spinUs);
  }

  /** Marks operation `seq` finished; a frame of it still queued means the peer sent too many. */
  finish(seq: number): void {
    this.finishedSeq = seq;
    for (const p of this.others) {
      if (p.box.hasLeftover(seq)) {
        this.fail(new CollectiveError('MISMATCH', `${p.name} sent more frames for op #${seq} than this rank expected: the ranks disagree about the call`));
        throw this.failure;
      }
    }
  }

  get failed(): CollectiveError | undefined { return this.failure; }

  peerName(rank: number): string { return this.peers[rank]?.name ?? `rank ${rank}`; }

  // ------------------------------------------------------------ failure and close

  /** Fails the mesh: pending receives reject, peers get ABORT, connections go down. */
  fail(err: CollectiveError): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    for (const p of this.others) p.box.failWaiter(err);
    this.formed?.reject(err);
    if (this.closing) { this.teardown(); return; }
    const abort = encodeAbortFrame({ rank: this.me.rank, reason: `rank ${this.me.rank}: ${err.message}` });
    for (const p of this.others) {
      if (p.out !== undefined && p.goodbyeSeq === undefined && !p.out.writableEnded) {
        p.out.write(abort);
        p.out.end();
      }
    }
    setTimeout(() => this.teardown(), ABORT_LINGER_MS).unref();
  }

  private sendGoodbye(p: Peer): void {
    if (p.goodbyeSent || p.out === undefined || p.out.writableEnded) return;
    p.goodbyeSent = true;
    p.out.write(encodeGoodbyeFrame(this.finishedSeq));
    p.out.end();
  }

  /**
   * Graceful close: GOODBYE to every peer, then wait (at most `timeoutMs`) for
   * every peer's GOODBYE or disconnect, then drop all connections.
   */
  async close(timeoutMs: number): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.failure === undefined && this.ready) {
      for (const p of this.others) this.sendGoodbye(p);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        this.closeWaiter = () => {
          if (this.others.every((p) => p.goodbyeSeq !== undefined || p.gone)) { clearTimeout(timer); resolve(); }
        };
        this.closeWaiter();
      });
    }
    for (const p of this.others) p.box.end(new CollectiveError('CLOSED', `rank ${this.me.rank} closed its communicator`));
    this.teardown();
  }

  private teardown(): void {
    if (this.tornDown) return;
    this.tornDown = true;
    for (const p of this.others) {
      p.conn?.drop();
    }
    this.endpoint.close();
  }
}
