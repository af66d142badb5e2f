// Choosing a fabric (option, OCTOSERVE_FABRIC), and what the socket fabric's
// endpoint does with a caller that does not speak its link protocol.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { Communicator } from './communicator.js';
import { CollectiveError } from './errors.js';
import { DEFAULT_FABRIC, FABRIC_ENV, FABRICS, fabricFromEnv, parseFabric, resolveFabric } from './fabric.js';
import { allocDataFrame, decodeFrame, encodeAbortFrame, FrameKind, OpCode, WireDtype } from './frame-codec.js';
import { Deframer, RECORD_PREFIX_BYTES, releaseRecord } from './length-prefixed.js';
import { LinkStatus } from './link.js';
import { RecordFlag } from './socket-records.js';
import { localPath, SOCKET_LOCAL_ENV, SocketConnection } from './socket-transport.js';
import { Endpoint } from './transport.js';

test('fabric names: both parse; an unknown one is a CollectiveError listing the valid names', () => {
  for (const f of FABRICS) assert.equal(parseFabric(f, 'x'), f);
  assert.throws(() => parseFabric('rdma', 'the fabric option'), (err: unknown) =>
    err instanceof CollectiveError && err.code === 'INVALID_ARGUMENT' && /the fabric option is 'rdma'; expected one of grpc, socket/.test(err.message));
  assert.equal(fabricFromEnv({}), undefined);
  assert.equal(fabricFromEnv({ [FABRIC_ENV]: '' }), undefined);
  assert.equal(fabricFromEnv({ [FABRIC_ENV]: 'socket' }), 'socket');
  assert.throws(() => fabricFromEnv({ [FABRIC_ENV]: 'tcp' }), /OCTOSERVE_FABRIC is 'tcp'; expected one of grpc, socket/);
  assert.equal(resolveFabric(undefined, 'x', {}), DEFAULT_FABRIC);
  assert.equal(resolveFabric(undefined, 'x', { [FABRIC_ENV]: 'socket' }), 'socket');
  assert.equal(resolveFabric('grpc', 'x', { [FABRIC_ENV]: 'socket' }), 'grpc', 'the option wins over the environment');
});

test('link status codes are the gRPC ones, so refusals read the same on both fabrics', () => {
  for (const [name, code] of Object.entries(LinkStatus)) assert.equal(GrpcStatus[name as keyof typeof GrpcStatus], code, name);
});

test('an OCTOSERVE_FABRIC that names no fabric fails Communicator.create and Endpoint.bind clearly', async () => {
  const saved = process.env[FABRIC_ENV];
  process.env[FABRIC_ENV] = 'infiniband';
  try {
    await assert.rejects(Communicator.create({ rank: 0, worldSize: 2, peers: ['127.0.0.1:0', '127.0.0.1:1'], communicatorId: 'x' }),
      /OCTOSERVE_FABRIC is 'infiniband'; expected one of grpc, socket/);
    await assert.rejects(Endpoint.bind('127.0.0.1:0'), /OCTOSERVE_FABRIC is 'infiniband'/);
    // an explicit option needs no environment
    const e = await Endpoint.bind('127.0.0.1:0', { fabric: 'socket' });
    assert.equal(e.fabric, 'socket');
    e.close();
  } finally {
    if (saved === undefined) delete process.env[FABRIC_ENV];
    else process.env[FABRIC_ENV] = saved;
  }
});

/** Connects to `to`, sends `bytes`, and collects the records the endpoint answers with until it closes. */
function rawExchange(to: net.NetConnectOpts, bytes: Buffer): Promise<{ flag: number; body: Buffer }[]> {
  return new Promise((resolve, reject) => {
    const got: { flag: number; body: Buffer }[] = [];
    const d = new Deframer((flag, body) => { if (flag !== RecordFlag.PAD) got.push({ flag, body: Buffer.from(body) }); return true; });
    const s = net.connect(to);
    s.on('data', (c: Buffer) => d.push(c));
    s.on('error', reject);
    s.on('close', () => resolve(got));
    s.write(bytes);
    setTimeout(() => { s.destroy(); }, 3_000).unref();
  });
}

function record(flag: number, body: Buffer): Buffer {
  const b = Buffer.alloc(5 + body.length);
  b[0] = flag;
  b.writeUInt32BE(body.length, 1);
  body.copy(b, 5);
  return b;
}

test('socket fabric: a caller that does not open with an OPEN record is refused and disconnected, over TCP and the local socket; nothing reaches the communicator', async () => {
  const endpoint = await Endpoint.bind('127.0.0.1:0', { clusterToken: 'tok', fabric: 'socket' });
  let reached = 0;
  endpoint.serve(() => { reached++; });
  const port = Number(endpoint.address.slice(endpoint.address.lastIndexOf(':') + 1));
  const path = localPath('127.0.0.1', port, {});
  assert.ok(path !== undefined, 'an endpoint on 127.0.0.1 also listens on a local socket');
  try {
    for (const to of [{ host: '127.0.0.1', port }, { path }]) {
      const cases: [Buffer, RegExp][] = [
        [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), /INVALID|first record|OPEN|too long/],
        [record(RecordFlag.FRAME, Buffer.from([8, 1])), /first record on a collective link must be OPEN/],
        [record(RecordFlag.OPEN, Buffer.from('nope')), /not an octoserve collective link/],
      ];
      for (const [bytes, why] of cases) {
        const answer = await rawExchange(to, bytes);
        assert.equal(answer.length, 1, `expected one REFUSE record, got ${answer.length}`);
        const r = answer[0] as { flag: number; body: Buffer };
        assert.equal(r.flag, RecordFlag.REFUSE);
        assert.equal(r.body[0], LinkStatus.INVALID_ARGUMENT);
        assert.match(r.body.subarray(1).toString('utf8'), why);
      }
    }
    assert.equal(reached, 0);
  } finally {
    endpoint.close();
  }
});

test('the local socket is only for loopback hosts on Linux without TLS; OCTOSERVE_SOCKET_LOCAL names unix or tcp', async () => {
  assert.equal(localPath('127.0.0.1', 5000, {}), process.platform === 'linux' ? '\0octoserve-fabric-127.0.0.1-5000' : undefined);
  assert.equal(localPath('10.0.0.7', 5000, {}), undefined);
  assert.equal(localPath('127.0.0.1', 5000, { tls: { ca: Buffer.from('x'), cert: Buffer.from('x'), key: Buffer.from('x') } }), undefined);
  const saved = process.env[SOCKET_LOCAL_ENV];
  process.env[SOCKET_LOCAL_ENV] = 'shm';
  try {
    assert.throws(() => new SocketConnection('127.0.0.1:1', { onMessage: () => {}, onStatus: () => {} }), /OCTOSERVE_SOCKET_LOCAL is 'shm'; expected unix or tcp/);
  } finally {
    if (saved === undefined) delete process.env[SOCKET_LOCAL_ENV];
    else process.env[SOCKET_LOCAL_ENV] = saved;
  }
});

test('socket fabric: frames arrive whole and in order, DATA payloads 4-byte aligned for float views, large ones read in place', async () => {
  const endpoint = await Endpoint.bind('127.0.0.1:0', { fabric: 'socket' });
  const sizes = [0, 1, 3, 256, 4097, 70_000, 300_001, 2 << 20];
  const got: Buffer[] = [];
  let resolveAll: () => void = () => undefined;
  const all = new Promise<void>((r) => { resolveAll = r; });
  endpoint.serve((link) => {
    link.listen({ onMessage: () => undefined, onLost: () => undefined });
    // an odd-length control frame first: later records must still start aligned
    link.write(encodeAbortFrame({ rank: 0, reason: 'x'.repeat(7) }));
    sizes.forEach((n, i) => {
      const { frame, payloadAt } = allocDataFrame({ seq: 1, index: i, op: OpCode.ALL_REDUCE_STAR, step: 0, offset: 0, count: n, dtype: WireDtype.F32, total: n }, n * 4);
      new Float32Array(frame.buffer, frame.byteOffset + payloadAt, n).forEach((_, k, a) => { a[k] = k + i; });
      link.write(frame);
    });
  });
  const conn = new SocketConnection(endpoint.address, {
    onMessage: (frame) => { got.push(frame); if (got.length === sizes.length + 1) resolveAll(); },
    onStatus: () => undefined,
  }, {});
  conn.write(encodeAbortFrame({ rank: 1, reason: 'hello' }));
  try {
    await all;
    assert.equal(decodeFrame(got[0] as Buffer).kind, FrameKind.ABORT);
    sizes.forEach((n, i) => {
      const f = decodeFrame(got[i + 1] as Buffer);
      assert.equal(f.index, i);
      assert.equal(f.payload.length, n * 4);
      assert.equal(f.payload.byteOffset % 4, 0, `payload of ${n} floats at byte offset ${f.payload.byteOffset}`);
      const v = new Float32Array(f.payload.buffer, f.payload.byteOffset, n);
      for (let k = 0; k < n; k += 97) assert.equal(v[k], k + i);
    });
  } finally {
    conn.drop();
    endpoint.close();
  }
});

test('a large record spanning chunks is read into a pooled buffer, reused only once released; small ones never are', () => {
  const got: Buffer[] = [];
  const d = new Deframer((_flag, body) => { got.push(body); return true; });
  const record = (len: number, fill: number): Buffer => {
    const b = Buffer.alloc(RECORD_PREFIX_BYTES + len, fill);
    b[0] = 0;
    b.writeUInt32BE(len, 1);
    return b;
  };
  const send = (b: Buffer): void => { d.push(b.subarray(0, 1000)); d.push(b.subarray(1000)); }; // split: no view of one chunk
  const big = 200_000;
  send(record(big, 1));
  send(record(big, 2));
  assert.notEqual(got[1]!.buffer, got[0]!.buffer, 'an unreleased record is not reused');
  releaseRecord(got[0]!.subarray(10, 20)); // what a receive hands back: a view (its payload) of the record
  send(record(big, 3));
  assert.equal(got[2]!.buffer, got[0]!.buffer, 'the released buffer is reused');
  assert.ok(got[1]!.every((x) => x === 2), 'the record still held is intact');
  assert.ok(got[2]!.every((x) => x === 3));
  send(record(5000, 4));
  releaseRecord(got[3]!);
  send(record(5000, 5));
  assert.notEqual(got[4]!.buffer, got[3]!.buffer, 'small records are not pooled');
  assert.ok(got[3]!.every((x) => x === 4));
});
