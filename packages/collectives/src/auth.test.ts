// Who may open a link on a collective endpoint: the cluster token and mutual
// TLS, on real sockets in one process (two communicators and an outsider),
// over both fabrics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tokenMatches } from './auth.js';
import type { TransportSecurity } from './auth.js';
import { Communicator } from './communicator.js';
import { CollectiveError } from './errors.js';
import { encodeHelloFrame, PROTOCOL_VERSION } from './frame-codec.js';
import { FABRICS } from './fabric.js';
import type { Fabric } from './fabric.js';
import { PeerConnection } from './grpc-client.js';
import { LinkStatus } from './link.js';
import type { DialedLink, DialedLinkHandlers } from './link.js';
import { SocketConnection } from './socket-transport.js';
import { Endpoint } from './transport.js';
import { makeTestPki } from '@octoserve/testkit';

interface Outcome { code: number; details: string; messages: number }

/** The fabric's own dialer, as the mesh would use it. */
function dialer(fabric: Fabric, address: string, handlers: DialedLinkHandlers, security: TransportSecurity): DialedLink {
  return fabric === 'grpc' ? new PeerConnection(address, handlers, security) : new SocketConnection(address, handlers, security);
}

/** Opens a link to `address` as an outsider, sends a HELLO, and waits for the link's status. */
function outsider(fabric: Fabric, address: string, security: TransportSecurity, communicatorId = 'intruder'): Promise<Outcome> {
  return new Promise((resolve) => {
    let messages = 0;
    const conn = dialer(fabric, address, {
      onMessage: () => { messages++; },
      onStatus: (code, details) => resolve({ code, details, messages }),
    }, security);
    conn.write(encodeHelloFrame({ communicatorId, worldSize: 2, rank: 1, peerRank: 0, address: '127.0.0.1:1', protocolVersion: PROTOCOL_VERSION }));
  });
}

/** A dialed link that never gets an answer (its TLS handshake fails): the reason it keeps retrying on. */
async function neverAnswered(fabric: Fabric, address: string, security: TransportSecurity): Promise<string> {
  let status: string | undefined;
  const conn = dialer(fabric, address, { onMessage: () => { status = 'a message'; }, onStatus: (c, d) => { status = `${c} ${d}`; } }, security);
  await new Promise((r) => setTimeout(r, 300));
  const why = conn.lastFailure;
  conn.drop();
  assert.equal(status, undefined, `the endpoint answered: ${status}`);
  assert.ok(why !== undefined, 'no connection error recorded');
  return why;
}

async function formPair(fabric: Fabric, a: TransportSecurity, b: TransportSecurity, connectTimeoutMs = 5_000): Promise<[Communicator | CollectiveError, Communicator | CollectiveError]> {
  const endpoints = [await Endpoint.bind('127.0.0.1:0', { ...a, fabric }), await Endpoint.bind('127.0.0.1:0', { ...b, fabric })];
  const peers = endpoints.map((e) => e.address);
  const settle = (r: number, s: TransportSecurity): Promise<Communicator | CollectiveError> => Communicator.create({
    rank: r, worldSize: 2, peers, communicatorId: 'auth-test', endpoint: endpoints[r], connectTimeoutMs, ...s,
  }).catch((err: unknown) => { assert.ok(err instanceof CollectiveError, String(err)); return err; });
  return Promise.all([settle(0, a), settle(1, b)]);
}

async function sumOnBoth(pair: [Communicator | CollectiveError, Communicator | CollectiveError]): Promise<void> {
  const [c0, c1] = pair;
  assert.ok(c0 instanceof Communicator, `rank 0: ${String(c0)}`);
  assert.ok(c1 instanceof Communicator, `rank 1: ${String(c1)}`);
  const [s0, s1] = await Promise.all([c0.allReduce(Float32Array.of(1, 2)), c1.allReduce(Float32Array.of(10, 20))]);
  assert.deepEqual([...s0], [11, 22]);
  assert.deepEqual([...s1], [11, 22]);
  await Promise.all([c0.close(), c1.close()]);
}

test('tokens compare equal only when identical, whatever their lengths', () => {
  assert.ok(tokenMatches('s3cret', 's3cret'));
  assert.ok(!tokenMatches('s3cret', 's3cre'));
  assert.ok(!tokenMatches('s3cret', 's3cret-and-more'));
  assert.ok(!tokenMatches('s3cret', ''));
  assert.ok(!tokenMatches('s3cret', undefined));
});

for (const fabric of FABRICS) {
  test(`${fabric}: a link without the token or with a wrong one is refused UNAUTHENTICATED before its HELLO is read`, async () => {
    const endpoint = await Endpoint.bind('127.0.0.1:0', { clusterToken: 'right', fabric });
    let reached = 0;
    endpoint.serve(() => { reached++; });
    try {
      const missing = await outsider(fabric, endpoint.address, {});
      assert.equal(missing.code, LinkStatus.UNAUTHENTICATED, missing.details);
      assert.match(missing.details, /belongs to another cluster: missing or wrong cluster token \(the call carried none\)/);
      const wrong = await outsider(fabric, endpoint.address, { clusterToken: 'wrong' });
      assert.equal(wrong.code, LinkStatus.UNAUTHENTICATED, wrong.details);
      assert.match(wrong.details, /wrong cluster token \(the call carried a different one\)/);
      assert.equal(missing.messages + wrong.messages, 0, 'the endpoint answered a refused caller');
      assert.equal(reached, 0, 'a refused call reached the communicator');
      // the right token gets through to the communicator's handler
      const right = dialer(fabric, endpoint.address, { onMessage: () => {}, onStatus: () => {} }, { clusterToken: 'right' });
      right.write(encodeHelloFrame({ communicatorId: 'x', worldSize: 2, rank: 1, peerRank: 0, address: '', protocolVersion: PROTOCOL_VERSION }));
      for (let i = 0; i < 50 && reached === 0; i++) await new Promise((r) => setTimeout(r, 20));
      right.drop();
      assert.equal(reached, 1);
    } finally {
      endpoint.close();
    }
  });

  test(`${fabric}: an outsider's HELLO during world formation is refused without failing the world`, async () => {
    // Without the token check first, this HELLO (another communicator id) would be a fatal mismatch.
    const security = { clusterToken: 'cluster-a' };
    const endpoints = [await Endpoint.bind('127.0.0.1:0', { ...security, fabric }), await Endpoint.bind('127.0.0.1:0', { ...security, fabric })];
    const peers = endpoints.map((e) => e.address);
    const refused = await outsider(fabric, peers[0] as string, { clusterToken: 'cluster-b' });
    assert.equal(refused.code, LinkStatus.UNAUTHENTICATED, refused.details);
    const create = (r: number): Promise<Communicator> => Communicator.create({ rank: r, worldSize: 2, peers, communicatorId: 'auth-test', endpoint: endpoints[r], connectTimeoutMs: 5_000, ...security });
    const [c0, c1] = await Promise.all([create(0), create(1)]);
    const late = await outsider(fabric, peers[1] as string, {});
    assert.equal(late.code, LinkStatus.UNAUTHENTICATED, late.details);
    await sumOnBoth([c0, c1]);
  });

  test(`${fabric}: ranks with different tokens both fail at once with MISMATCH naming the token`, async () => {
    const t0 = performance.now();
    const [a, b] = await formPair(fabric, { clusterToken: 'one' }, { clusterToken: 'two' }, 10_000);
    for (const r of [a, b]) {
      assert.ok(r instanceof CollectiveError, 'formed a world across two clusters');
      assert.equal(r.code, 'MISMATCH', r.message);
      assert.match(r.message, /refused this rank .*UNAUTHENTICATED: .*wrong cluster token/);
    }
    assert.ok(performance.now() - t0 < 5_000, `took ${(performance.now() - t0).toFixed(0)} ms, not at once`);
  });

  test(`${fabric}: a communicator refuses an endpoint bound for another token`, async () => {
    const endpoint = await Endpoint.bind('127.0.0.1:0', { clusterToken: 'one', fabric });
    try {
      await assert.rejects(Communicator.create({ rank: 0, worldSize: 2, peers: [endpoint.address, '127.0.0.1:1'], communicatorId: 'x', endpoint, clusterToken: 'two' }),
        /admits callers by another cluster token or TLS setting/);
    } finally {
      endpoint.close();
    }
  });

  test(`${fabric}: mutual TLS: a world forms and sums; plaintext and foreign-CA callers never get a link`, async () => {
    const pki = makeTestPki();
    const foreign = makeTestPki('foreign');
    try {
      const tls = { ca: pki.ca, cert: pki.cert, key: pki.key };
      const endpoints = [await Endpoint.bind('127.0.0.1:0', { clusterToken: 't', tls, fabric }), await Endpoint.bind('127.0.0.1:0', { clusterToken: 't', tls, fabric })];
      const peers = endpoints.map((e) => e.address);
      // refused at the TLS layer: no certificate, or one the cluster's CA did not sign
      assert.ok((await neverAnswered(fabric, peers[0] as string, { clusterToken: 't' })).length > 0);
      assert.ok((await neverAnswered(fabric, peers[0] as string, { clusterToken: 't', tls: { ca: pki.ca, cert: foreign.cert, key: foreign.key } })).length > 0);
      // a peer whose CA is another cannot trust our certificate either
      assert.match(await neverAnswered(fabric, peers[0] as string, { clusterToken: 't', tls: { ca: foreign.ca, cert: pki.cert, key: pki.key } }), /certificate/i);
      const create = (r: number): Promise<Communicator> => Communicator.create({ rank: r, worldSize: 2, peers, communicatorId: 'tls-test', endpoint: endpoints[r], connectTimeoutMs: 5_000, clusterToken: 't', tls });
      const comms = await Promise.all([create(0), create(1)]);
      // the shm fabric keeps every link TLS: no shared segment beside it
      for (const c of comms) assert.equal(c.sharedMemory, false);
      await sumOnBoth(comms);
    } finally {
      pki.remove();
      foreign.remove();
    }
  });

  test(`${fabric}: a communicator refuses an endpoint of the other fabric`, async () => {
    const endpoint = await Endpoint.bind('127.0.0.1:0', { fabric });
    const other = FABRICS.find((f) => f !== fabric) as Fabric;
    try {
      assert.equal(endpoint.fabric, fabric);
      await assert.rejects(Communicator.create({ rank: 0, worldSize: 2, peers: [endpoint.address, '127.0.0.1:1'], communicatorId: 'x', endpoint, fabric: other }),
        new RegExp(`speaks the ${fabric} fabric, the communicator was asked for ${other}`));
    } finally {
      endpoint.close();
    }
  });
}
