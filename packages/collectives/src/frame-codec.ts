// The CollectiveFrame wire format (proto/octoserve/v1/collective.proto), encoded
// and decoded by hand: the hot path must not build message objects per chunk.
//
// DATA header, always emitted in field order with fixed-width integers (40 bytes):
//   kind(2) seq(9) index(5) op(2) step(5) offset(5) count(5) dtype(2) total(5)
// then `pad` (2 + 0..3 bytes) and `payload` (1 + varint + bytes). `pad` makes
// (5 + bytes before the payload) a multiple of 4, so the payload is 4-byte
// aligned in the buffer grpc-js hands the receiver (its 5-byte prefix + message).
// The decoder accepts any valid protobuf encoding of the message.
import { CollectiveError } from './errors.js';

export const FrameKind = { DATA: 1, HELLO: 2, ABORT: 3, GOODBYE: 4 } as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

export const WireDtype = { F32: 1, BF16: 2, F16: 3 } as const;
export type WireDtype = (typeof WireDtype)[keyof typeof WireDtype];

/** Collective operation and algorithm of a DATA frame (enum CollectiveOp). */
export const OpCode = {
  ALL_REDUCE_RING: 1,
  ALL_REDUCE_ONE_SHOT: 2,
  ALL_REDUCE_TWO_SHOT: 3,
  ALL_REDUCE_STAR: 4,
  REDUCE_SCATTER_RING: 5,
  REDUCE_SCATTER_DIRECT: 6,
  ALL_GATHER_RING: 7,
  ALL_GATHER_DIRECT: 8,
  BROADCAST: 9,
  BARRIER: 10,
  GATHER: 11,
  ALL_REDUCE_TREE: 12,
  ALL_REDUCE_DOUBLING: 13,
  ALL_REDUCE_SHM: 14,
} as const;
export type OpCode = (typeof OpCode)[keyof typeof OpCode];

export const PROTOCOL_VERSION = 1;

export interface Hello {
  communicatorId: string;
  worldSize: number;
  rank: number;          // the sender's rank
  peerRank: number;      // the rank the sender believes it talks to
  address: string;       // the sender's collective address
  protocolVersion: number;
}

export interface Abort {
  rank: number;
  reason: string;
}

/** A decoded frame. `payload` is a view into the received buffer (no copy). */
export interface Frame {
  kind: number;
  seq: number;
  index: number;
  op: number;
  step: number;
  offset: number;        // elements
  count: number;         // elements
  dtype: number;
  total: number;         // elements of the whole vector
  payload: Buffer;
  hello: Hello | undefined;
  abort: Abort | undefined;
}

/** The fields of a DATA frame besides its payload. */
export interface DataHeader {
  seq: number;
  index: number;
  op: OpCode;
  step: number;
  offset: number;
  count: number;
  dtype: WireDtype;
  total: number;
}

const DATA_FIXED_BYTES = 40;
const TWO_POW_32 = 4294967296;
const EMPTY = Buffer.alloc(0);

function varintLength(v: number): number {
  let n = 1;
  while (v >= 0x80) { v = Math.floor(v / 128); n++; }
  return n;
}

function writeVarint(buf: Buffer, pos: number, v: number): number {
  while (v >= 0x80) { buf[pos++] = (v % 128) | 0x80; v = Math.floor(v / 128); }
  buf[pos++] = v;
  return pos;
}

/** Bytes a DATA frame with `payloadBytes` of payload occupies, and where its payload starts. */
export function dataFrameLayout(payloadBytes: number): { size: number; payloadAt: number } {
  const vl = varintLength(payloadBytes);
  const pad = (4 - (vl % 4)) % 4;
  const payloadAt = DATA_FIXED_BYTES + 2 + pad + 1 + vl;
  return { size: payloadAt + payloadBytes, payloadAt };
}

/**
 * Writes the DATA header for `payloadBytes` of payload at the start of `buf`
 * (which must be dataFrameLayout(payloadBytes).size long) and returns the payload offset.
 */
export function writeDataHeader(buf: Buffer, h: DataHeader, payloadBytes: number): number {
  let p = 0;
  buf[p++] = 0x08; buf[p++] = FrameKind.DATA;
  buf[p++] = 0x11; buf.writeUInt32LE(h.seq % TWO_POW_32, p); buf.writeUInt32LE(Math.floor(h.seq / TWO_POW_32), p + 4); p += 8;
  buf[p++] = 0x1d; buf.writeUInt32LE(h.index, p); p += 4;
  buf[p++] = 0x20; buf[p++] = h.op;
  buf[p++] = 0x2d; buf.writeUInt32LE(h.step, p); p += 4;
  buf[p++] = 0x35; buf.writeUInt32LE(h.offset, p); p += 4;
  buf[p++] = 0x3d; buf.writeUInt32LE(h.count, p); p += 4;
  buf[p++] = 0x40; buf[p++] = h.dtype;
  buf[p++] = 0x4d; buf.writeUInt32LE(h.total, p); p += 4;
  const vl = varintLength(payloadBytes);
  const pad = (4 - (vl % 4)) % 4;
  buf[p++] = 0x72; buf[p++] = pad;
  for (let i = 0; i < pad; i++) buf[p++] = 0;
  buf[p++] = 0x7a;
  return writeVarint(buf, p, payloadBytes);
}

/** Bytes a DATA frame buffer needs for `payloadBytes` of payload, with room to align it. */
export function dataFrameBytes(payloadBytes: number): number {
  return dataFrameLayout(payloadBytes).size + 4;
}

/**
 * Places a DATA frame in `raw` (a fresh buffer when not given; at least dataFrameBytes long),
 * its payload 4-byte aligned in memory, so the encoder can write through a typed-array view.
 * Returns the frame and payload offset.
 */
export function allocDataFrame(h: DataHeader, payloadBytes: number, raw?: Buffer): { frame: Buffer; payloadAt: number } {
  const { size, payloadAt } = dataFrameLayout(payloadBytes);
  raw ??= Buffer.allocUnsafe(dataFrameBytes(payloadBytes));
  // Shift the frame start so raw.byteOffset + shift + payloadAt is a multiple of 4.
  const shift = (4 - ((raw.byteOffset + payloadAt) % 4)) % 4;
  const frame = raw.subarray(shift, shift + size);
  writeDataHeader(frame, h, payloadBytes);
  return { frame, payloadAt };
}

function encodeString(s: string): Buffer { return Buffer.from(s, 'utf8'); }

function encodeMessageField(fieldTag: number[], body: Buffer): Buffer {
  const head = Buffer.alloc(fieldTag.length + varintLength(body.length));
  for (let i = 0; i < fieldTag.length; i++) head[i] = fieldTag[i] as number;
  writeVarint(head, fieldTag.length, body.length);
  return Buffer.concat([head, body]);
}

function varintField(field: number, v: number): Buffer {
  const b = Buffer.alloc(1 + varintLength(v));
  b[0] = field << 3;
  writeVarint(b, 1, v);
  return b;
}

function bytesField(field: number, body: Buffer): Buffer {
  return encodeMessageField([(field << 3) | 2], body);
}

export function encodeHelloFrame(h: Hello): Buffer {
  const body = Buffer.concat([
    bytesField(1, encodeString(h.communicatorId)),
    varintField(2, h.worldSize),
    varintField(3, h.rank),
    varintField(4, h.peerRank),
    bytesField(5, encodeString(h.address)),
    varintField(6, h.protocolVersion),
  ]);
  return Buffer.concat([varintField(1, FrameKind.HELLO), encodeMessageField([0x82, 0x01], body)]);
}

export function encodeAbortFrame(a: Abort): Buffer {
  const body = Buffer.concat([varintField(1, a.rank), bytesField(2, encodeString(a.reason))]);
  return Buffer.concat([varintField(1, FrameKind.ABORT), encodeMessageField([0x8a, 0x01], body)]);
}

/** GOODBYE: the sender finished `seq` operations and sends no more DATA. */
export function encodeGoodbyeFrame(seq: number): Buffer {
  const b = Buffer.alloc(11);
  b[0] = 0x08; b[1] = FrameKind.GOODBYE;
  b[2] = 0x11; b.writeUInt32LE(seq % TWO_POW_32, 3); b.writeUInt32LE(Math.floor(seq / TWO_POW_32), 7);
  return b;
}

// ---------------------------------------------------------------- decoding

class Reader {
  pos: number;
  constructor(readonly buf: Buffer, start: number, readonly end: number) { this.pos = start; }

  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw truncated('a varint');
      const b = this.buf[this.pos++] as number;
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
      scale *= 128;
    }
    throw malformed('a varint longer than 10 bytes');
  }

  fixed32(): number {
    if (this.pos + 4 > this.end) throw truncated('a fixed32');
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  fixed64(): number {
    if (this.pos + 8 > this.end) throw truncated('a fixed64');
    const v = this.buf.readUInt32LE(this.pos) + this.buf.readUInt32LE(this.pos + 4) * TWO_POW_32;
    this.pos += 8;
    return v;
  }

  bytes(): Buffer {
    const len = this.varint();
    if (this.pos + len > this.end) throw truncated(`a ${len}-byte field (${this.end - this.pos} bytes left)`);
    const b = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return b;
  }

  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.fixed64();
    else if (wireType === 2) this.bytes();
    else if (wireType === 5) this.fixed32();
    else throw malformed(`unsupported wire type ${wireType}`);
  }
}

function truncated(what: string): CollectiveError {
  return new CollectiveError('PROTOCOL', `malformed frame: truncated in ${what}`);
}
function malformed(what: string): CollectiveError {
  return new CollectiveError('PROTOCOL', `malformed frame: ${what}`);
}

function decodeHello(buf: Buffer): Hello {
  const r = new Reader(buf, 0, buf.length);
  const h: Hello = { communicatorId: '', worldSize: 0, rank: 0, peerRank: 0, address: '', protocolVersion: 0 };
  while (r.pos < r.end) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wt = tag & 7;
    if (field === 1 && wt === 2) h.communicatorId = r.bytes().toString('utf8');
    else if (field === 2 && wt === 0) h.worldSize = r.varint();
    else if (field === 3 && wt === 0) h.rank = r.varint();
    else if (field === 4 && wt === 0) h.peerRank = r.varint();
    else if (field === 5 && wt === 2) h.address = r.bytes().toString('utf8');
    else if (field === 6 && wt === 0) h.protocolVersion = r.varint();
    else r.skip(wt);
  }
  return h;
}

function decodeAbort(buf: Buffer): Abort {
  const r = new Reader(buf, 0, buf.length);
  const a: Abort = { rank: 0, reason: '' };
  while (r.pos < r.end) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wt = tag & 7;
    if (field === 1 && wt === 0) a.rank = r.varint();
    else if (field === 2 && wt === 2) a.reason = r.bytes().toString('utf8');
    else r.skip(wt);
  }
  return a;
}

/** Decodes one CollectiveFrame; throws CollectiveError('PROTOCOL') on malformed input. */
export function decodeFrame(buf: Buffer): Frame {
  const f: Frame = {
    kind: 0, seq: 0, index: 0, op: 0, step: 0, offset: 0, count: 0, dtype: 0, total: 0,
    payload: EMPTY, hello: undefined, abort: undefined,
  };
  const r = new Reader(buf, 0, buf.length);
  while (r.pos < r.end) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wt = tag & 7;
    switch (field) {
      case 1: if (wt !== 0) throw malformed('field kind is not a varint'); f.kind = r.varint(); break;
      case 2: if (wt !== 1) throw malformed('field seq is not fixed64'); f.seq = r.fixed64(); break;
      case 3: if (wt !== 5) throw malformed('field index is not fixed32'); f.index = r.fixed32(); break;
      case 4: if (wt !== 0) throw malformed('field op is not a varint'); f.op = r.varint(); break;
      case 5: if (wt !== 5) throw malformed('field step is not fixed32'); f.step = r.fixed32(); break;
      case 6: if (wt !== 5) throw malformed('field offset is not fixed32'); f.offset = r.fixed32(); break;
      case 7: if (wt !== 5) throw malformed('field count is not fixed32'); f.count = r.fixed32(); break;
      case 8: if (wt !== 0) throw malformed('field dtype is not a varint'); f.dtype = r.varint(); break;
      case 9: if (wt !== 5) throw malformed('field total is not fixed32'); f.total = r.fixed32(); break;
      case 15: if (wt !== 2) throw malformed('field payload is not bytes'); f.payload = r.bytes(); break;
      case 16: if (wt !== 2) throw malformed('field hello is not a message'); f.hello = decodeHello(r.bytes()); break;
      case 17: if (wt !== 2) throw malformed('field abort is not a message'); f.abort = decodeAbort(r.bytes()); break;
      default: r.skip(wt);
    }
  }
  return f;
}
