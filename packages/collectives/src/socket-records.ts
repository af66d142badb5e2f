// The socket fabric's records: [flag u8][length u32 BE][body] (length-prefixed.ts), the OPEN
// record a dialer starts with, the REFUSE record an acceptor ends with, PAD records that keep
// every record 4-byte aligned in the stream, and the writer that hands each record to its
// socket as one write. See socket-transport.ts for the links that carry them.
import type net from 'node:net';
import { CollectiveError } from './errors.js';
import { RECORD_PREFIX_BYTES } from './length-prefixed.js';

export const RecordFlag = { FRAME: 0, OPEN: 1, REFUSE: 2, PAD: 3 } as const;

const LINK_MAGIC = Buffer.from('OCTL', 'latin1');
const LINK_VERSION = 1;
/** The longest record an unauthenticated dialer may send (the OPEN record). */
export const MAX_OPEN_BYTES = 64 * 1024;
/** How long a new connection may take to send its OPEN record. */
export const OPEN_TIMEOUT_MS = 10_000;
/** The most characters of refusal text sent back. */
const MAX_REFUSAL = 2_000;
export const RETRY_FIRST_MS = 20;
export const RETRY_MAX_MS = 500;

// ------------------------------------------------------------ sending

/**
 * Frames up to this size (a 64 KiB payload and its header) are copied next to
 * their prefix: one buffer, one write. Measured at 8 ranks, the copy costs
 * less than the corked two-buffer write up to there.
 */
const COPY_MAX_BYTES = 64 * 1024 + 64;
const SLAB_BYTES = 1024 * 1024;

/**
 * Writes records to one socket. A record is handed to the socket as a single
 * buffer (prefix + body copied into the slab) or, for large bodies, as a
 * corked prefix + body pair, so each record is one syscall when the socket
 * is writable.
 */
export class RecordWriter {
  // small at first: a dialer only ever writes its OPEN record and HELLO
  private slab = Buffer.allocUnsafe(4096);
  private used = 0;

  constructor(private readonly socket: net.Socket) {}

  /** `size` bytes of the slab that no write has used; 8-aligned, never handed out again. */
  private take(size: number): Buffer {
    if (this.used + size > this.slab.length) {
      this.slab = Buffer.allocUnsafe(Math.max(SLAB_BYTES, size));
      this.used = 0;
    }
    const b = this.slab.subarray(this.used, this.used + size);
    this.used += (size + 7) & ~7;
    return b;
  }

  /** Writes one record; `written` runs once `body` is no longer read (copied, or written to the socket). */
  write(flag: number, body: Buffer, written?: () => void): void {
    const s = this.socket;
    const pad = padAfter(body.length);
    if (body.length <= COPY_MAX_BYTES) {
      const b = this.take(RECORD_PREFIX_BYTES + body.length + pad);
      b[0] = flag;
      b.writeUInt32BE(body.length, 1);
      body.copy(b, RECORD_PREFIX_BYTES);
      if (pad > 0) writePad(b, RECORD_PREFIX_BYTES + body.length, pad);
      s.write(b);
      written?.();
      return;
    }
    const prefix = this.take(RECORD_PREFIX_BYTES);
    prefix[0] = flag;
    prefix.writeUInt32BE(body.length, 1);
    s.cork();
    s.write(prefix);
    s.write(body, written);
    if (pad > 0) { const b = this.take(pad); writePad(b, 0, pad); s.write(b); }
    s.uncork();
  }
}

/**
 * Bytes of PAD record after a record of `bodyBytes`, so the next record starts
 * 4-byte aligned in the stream (records start aligned: by induction every one
 * does). A PAD record is at least its 5-byte prefix.
 */
function padAfter(bodyBytes: number): number {
  const misaligned = (RECORD_PREFIX_BYTES + bodyBytes) & 3;
  if (misaligned === 0) return 0;
  return RECORD_PREFIX_BYTES + ((4 - ((misaligned + RECORD_PREFIX_BYTES) & 3)) & 3);
}

function writePad(b: Buffer, at: number, pad: number): void {
  b[at] = RecordFlag.PAD;
  b.writeUInt32BE(pad - RECORD_PREFIX_BYTES, at + 1);
  b.fill(0, at + RECORD_PREFIX_BYTES, at + pad);
}

export function openRecord(token: string): Buffer {
  const t = Buffer.from(token, 'utf8');
  const b = Buffer.alloc(LINK_MAGIC.length + 1 + t.length);
  LINK_MAGIC.copy(b, 0);
  b[LINK_MAGIC.length] = LINK_VERSION;
  t.copy(b, LINK_MAGIC.length + 1);
  return b;
}

/** The token an OPEN record carries ('' = none), or an error message when it is no OPEN record of this link version. */
export function readOpen(body: Buffer): { token: string } | { problem: string } {
  if (body.length < LINK_MAGIC.length + 1 || !body.subarray(0, LINK_MAGIC.length).equals(LINK_MAGIC)) {
    return { problem: 'the first record on a collective link must be OPEN; this is not an octoserve collective link' };
  }
  const version = body[LINK_MAGIC.length] as number;
  if (version !== LINK_VERSION) return { problem: `the dialer speaks collective link version ${version}, this endpoint ${LINK_VERSION}` };
  return { token: body.subarray(LINK_MAGIC.length + 1).toString('utf8') };
}

export function refuseRecord(code: number, details: string): Buffer {
  const text = Buffer.from(details.length <= MAX_REFUSAL ? details : `${details.slice(0, MAX_REFUSAL)}... (cut)`, 'utf8');
  const b = Buffer.alloc(1 + text.length);
  b[0] = code;
  text.copy(b, 1);
  return b;
}

export function splitAddress(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  const port = Number(address.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new CollectiveError('INVALID_ARGUMENT', `address '${address}' is not host:port`);
  }
  let host = address.slice(0, i);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host, port };
}
