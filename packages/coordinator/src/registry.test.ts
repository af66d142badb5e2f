// Who may join: the Registry's token rule, through its gRPC handler.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type * as grpc from '@grpc/grpc-js';
import type { RegisterReply, RegisterRequest__Output } from '@octoserve/wire';
import { Registry, newClusterToken } from './registry.js';

function register(registry: Registry, clusterToken: string, rank = 0): RegisterReply {
  const request: RegisterRequest__Output = { rank, worldSize: registry.worldSize, address: `127.0.0.1:${7000 + rank}`, collectiveAddress: `127.0.0.1:${8000 + rank}`, pid: 100 + rank, host: 'h', device: 'cpu', clusterToken };
  let reply: RegisterReply | undefined;
  registry.handlers().Register({ request } as grpc.ServerUnaryCall<RegisterRequest__Output, RegisterReply>, (err, res) => {
    assert.equal(err, null);
    reply = res ?? undefined;
  });
  assert.ok(reply !== undefined);
  return reply;
}

test('newClusterToken: 32 random bytes as base64url, a new one each time', () => {
  const a = newClusterToken();
  assert.match(a, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(Buffer.from(a, 'base64url').length, 32);
  assert.notEqual(newClusterToken(), a);
});

test('with a token, the Registry admits only workers that carry it, and says why it refuses', async () => {
  const token = newClusterToken();
  const registry = new Registry(2, token);
  const wrong = register(registry, 'not-it');
  assert.equal(wrong.accepted, false);
  assert.match(wrong.message ?? '', /^this coordinator belongs to another cluster: missing or wrong cluster token \(the worker sent a different one\); give the worker the coordinator's token \(--cluster-token-file or OCTOSERVE_CLUSTER_TOKEN\)$/);
  assert.match(register(registry, '').message ?? '', /the worker sent none/);
  assert.equal(register(registry, token, 0).accepted, true);
  assert.equal(register(registry, token, 1).accepted, true);
  assert.deepEqual((await registry.waitForAll(1_000)).map((r) => r.rank), [0, 1]);
});

test('without a token the Registry is open, but refuses a worker that has one (it would refuse the coordinator\'s calls)', () => {
  const registry = new Registry(1);
  const tokened = register(registry, 'some-token');
  assert.equal(tokened.accepted, false);
  assert.match(tokened.message ?? '', /the worker has a cluster token but this coordinator has none/);
  assert.equal(register(registry, '').accepted, true);
});
