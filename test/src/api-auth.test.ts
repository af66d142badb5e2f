// The client and admin APIs' guards: Admin calls need the admin token (none or a wrong one is
// UNAUTHENTICATED, with where to find it), the token file a coordinator writes is its user's
// alone and gone when it stops, and a coordinator launched with a certificate serves TLS only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { OctoserveClient, adminTokenFile } from '@octoserve/client';
import { failure, rawUnary } from './calls.js';
import { startCoordinator, uniqueQueue } from './coordinator-process.js';
import { makeTestPki, findTestModel, loadGoldenCases, type GoldenCase, type TestModel } from '@octoserve/testkit';

const model: TestModel = await findTestModel();
const golden = loadGoldenCases(model)[0] as GoldenCase;

test('admin calls need the admin token; the generated one is in a user-only file that goes at exit', { timeout: 120_000 }, async () => {
  const coord = await startCoordinator(['--model', model.modelPath, '--tp', '1', '--queue', uniqueQueue('auth')]);
  const port = coord.address.slice(coord.address.lastIndexOf(':') + 1);
  const file = adminTokenFile(port);
  try {
    assert.ok(existsSync(file), `no token file ${file}`);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const token = readFileSync(file, 'utf8').trim();
    assert.ok(token.length >= 24);
    // "none sent": a raw call (the client would find the token file by itself)
    const none = await rawUnary(coord.address, '/octoserve.v1.Admin/ClusterStatus', Buffer.alloc(0));
    assert.ok(!Buffer.isBuffer(none));
    assert.equal(none.code, grpc.status.UNAUTHENTICATED);
    assert.match(none.details, /admin calls need the admin token \(none was sent\): set \$OCTOSERVE_ADMIN_TOKEN/);
    const shutdownNone = await rawUnary(coord.address, '/octoserve.v1.Admin/Shutdown', Buffer.alloc(0));
    assert.ok(!Buffer.isBuffer(shutdownNone));
    assert.equal(shutdownNone.code, grpc.status.UNAUTHENTICATED, 'Shutdown without the token is refused');
    const wrong = new OctoserveClient({ address: coord.address, adminToken: 'wrong-token', deadlineMs: 10_000 });
    const refused = await failure(wrong.drain());
    assert.equal(refused.codeName, 'UNAUTHENTICATED');
    assert.match(refused.details, /the one sent is wrong/);
    assert.equal((await wrong.complete({ prompt: golden.prompt, maxTokens: 5 })).tokenIds.length, 5, 'the client API needs no admin token');
    wrong.close();
    const right = new OctoserveClient({ address: coord.address, deadlineMs: 10_000 }); // finds the file
    assert.equal((await right.clusterStatus()).state, 'serving');
    right.close();
  } finally {
    await coord.stop();
  }
  assert.ok(!existsSync(file), 'the token file is removed when the coordinator stops');
});

test('a coordinator launched with --tls-cert serves TLS: a client trusting the CA works, a plaintext one is refused', { timeout: 120_000 }, async () => {
  const pki = makeTestPki();
  const token = 'test-admin-token';
  const tokenFile = join(dirname(pki.files.ca), 'admin-token');
  writeFileSync(tokenFile, token);
  const coord = await startCoordinator(['--model', model.modelPath, '--tp', '1', '--queue', uniqueQueue('tls'), '--tls-cert', pki.files.cert, '--tls-key', pki.files.key, '--admin-token-file', tokenFile]);
  try {
    assert.match(coord.stderr(), /TLS/);
    assert.doesNotMatch(coord.stderr(), /admin token in/, 'a given token is not written anywhere');
    const secure = new OctoserveClient({ address: coord.address, credentials: grpc.credentials.createSsl(pki.ca), adminToken: token, deadlineMs: 10_000 });
    assert.deepEqual((await secure.complete({ prompt: golden.prompt, maxTokens: 12 })).tokenIds, golden.generated_token_ids.slice(0, 12));
    assert.equal((await secure.clusterStatus()).tp, 1);
    secure.close();
    const plain = new OctoserveClient({ address: coord.address, deadlineMs: 5_000 });
    const refused = await failure(plain.complete({ prompt: golden.prompt, maxTokens: 3 }));
    assert.equal(refused.codeName, 'UNAVAILABLE');
    plain.close();
  } finally {
    await coord.stop();
    pki.remove();
  }
});
