// The hand-written CollectiveFrame codec: round trips, payload alignment, and
// the contract check against protobufjs reading proto/octoserve/v1/collective.proto.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import {
  allocDataFrame, dataFrameLayout, decodeFrame, encodeAbortFrame, encodeGoodbyeFrame, encodeHelloFrame, FrameKind, OpCode, WireDtype,
} from './frame-codec.js';
import type { DataHeader } from './frame-codec.js';
import { CollectiveError } from './errors.js';

const PROTO = fileURLToPath(new URL('../../../proto/octoserve/v1/collective.proto', import.meta.url));
const FrameType = protobuf.loadSync(PROTO).lookupType('octoserve.v1.CollectiveFrame');

const header: DataHeader = { seq: 2 ** 40 + 7, index: 3, op: OpCode.ALL_REDUCE_RING, step: 5, offset: 1000, count: 4, dtype: WireDtype.F32, total: 123456 };

function dataFrame(h: DataHeader, payload: Buffer): Buffer {
  const { frame, payloadAt } = allocDataFrame(h, payload.length);
  payload.copy(frame, payloadAt);
  return frame;
}

test('DATA frames round-trip, header fields and payload intact', () => {
  const payload = Buffer.from(new Float32Array([1, -2, 3.5, 1e-30]).buffer);
  const f = decodeFrame(dataFrame(header, payload));
  assert.deepEqual({ ...f, payload: undefined }, { ...header, kind: FrameKind.DATA, payload: undefined, hello: undefined, abort: undefined });
  assert.ok(f.payload.equals(payload));
});

test('the payload starts 4-byte aligned after the 5-byte gRPC prefix, for every payload size', () => {
  for (const bytes of [0, 4, 124, 128, 16380, 16384, 2_097_148, 2_097_152, 268_435_456]) {
    const { payloadAt } = dataFrameLayout(bytes);
    assert.equal((5 + payloadAt) % 4, 0, `payload of ${bytes} bytes starts at ${payloadAt}`);
  }
  const { frame, payloadAt } = allocDataFrame(header, 16);
  assert.equal((frame.byteOffset + payloadAt) % 4, 0, 'the encoder writes through an aligned view');
});

test('HELLO, ABORT and GOODBYE round-trip', () => {
  const hello = { communicatorId: 'job-α', worldSize: 8, rank: 3, peerRank: 5, address: '127.0.0.1:4103', protocolVersion: 1 };
  assert.deepEqual(decodeFrame(encodeHelloFrame(hello)).hello, hello);
  assert.deepEqual(decodeFrame(encodeAbortFrame({ rank: 2, reason: 'lost rank 4' })).abort, { rank: 2, reason: 'lost rank 4' });
  const g = decodeFrame(encodeGoodbyeFrame(2 ** 33 + 1));
  assert.equal(g.kind, FrameKind.GOODBYE);
  assert.equal(g.seq, 2 ** 33 + 1);
});

test('contract: protobufjs reads what we write, and we read what protobufjs writes', () => {
  const payload = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]);
  const theirs = FrameType.toObject(FrameType.decode(dataFrame({ ...header, count: 2 }, payload)), { longs: Number, enums: Number });
  assert.deepEqual({ ...theirs, payload: undefined, pad: undefined }, { ...header, count: 2, kind: FrameKind.DATA, payload: undefined, pad: undefined });
  assert.ok(Buffer.from(theirs.payload as Uint8Array).equals(payload));

  const encoded = Buffer.from(FrameType.encode(FrameType.create({ ...header, kind: FrameKind.DATA, payload })).finish());
  const ours = decodeFrame(encoded);
  assert.deepEqual({ ...ours, payload: undefined }, { ...header, kind: FrameKind.DATA, payload: undefined, hello: undefined, abort: undefined });
  assert.ok(ours.payload.equals(payload));

  const hello = { communicatorId: 'c', worldSize: 4, rank: 1, peerRank: 2, address: 'h:1', protocolVersion: 1 };
  const helloBytes = Buffer.from(FrameType.encode(FrameType.create({ kind: FrameKind.HELLO, hello })).finish());
  assert.deepEqual(decodeFrame(helloBytes).hello, hello);
  assert.deepEqual(FrameType.toObject(FrameType.decode(encodeHelloFrame(hello)), { enums: Number }).hello, hello);
});

test('malformed frames fail with PROTOCOL, never a wrong frame', () => {
  const good = dataFrame(header, Buffer.alloc(16));
  for (const bad of [good.subarray(0, 20), good.subarray(0, good.length - 1), Buffer.from([0x08]), Buffer.from([0x0f, 0x01])]) {
    assert.throws(() => decodeFrame(bad), (e: unknown) => e instanceof CollectiveError && e.code === 'PROTOCOL');
  }
});
