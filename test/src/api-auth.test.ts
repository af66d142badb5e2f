// The client and admin APIs' guards: Admin calls need the admin token (none or a wrong one is
// UNAUTHENTICATED, with where to find it), the token file a coordinator writes is its user's
// alone and gone when it stops, and a coordinator launched with a certificate serves TLS only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { OctoserveClient, OctoserveError, adminTokenFile } from '@octoserve/client';
import { findTestModel, loadGoldenCases } from '@octoserve/model';
import type { GoldenCase, TestModel } from '@octoserve/model';
import { startCoordinator, uniqueQueue } from './coordinator-process.js';

const model: TestModel = await findTestModel();
const golden = loadGoldenCases(model)[0] as GoldenCase;

async function failure(p: Promise<unknown>): Promise<OctoserveError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof OctoserveError, String(err));
    return err;
  }
  assert.fail('the call succeeded');
}

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
    const raw = new grpc.Client(coord.address, grpc.credentials.createInsecure());
    const rawStatus = (md: grpc.Metadata): Promise<grpc.ServiceError | null> => new Promise((resolve) => {
      raw.makeUnaryRequest('/octoserve.v1.Admin/ClusterStatus', (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), md, { deadline: Date.now() + 10_000 },
        (err) => resolve(err));
    });
    const none = await rawStatus(new grpc.Metadata());
    assert.equal(none?.code, grpc.status.UNAUTHENTICATED);
    assert.match(none?.details ?? '', /admin calls need the admin token \(none was sent\): set \$OCTOSERVE_ADMIN_TOKEN/);
    const drainNone = await new Promise<grpc.ServiceError | null>((resolve) => raw.makeUnaryRequest('/octoserve.v1.Admin/Shutdown', (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (err) => resolve(err)));
    assert.equal(drainNone?.code, grpc.status.UNAUTHENTICATED, 'Shutdown without the token is refused');
    raw.close();
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
  const dir = mkdtempSync(join(tmpdir(), 'octoserve-tls-'));
  const ca = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca.key');
  const key = join(dir, 'server.key');
  const csr = join(dir, 'server.csr');
  const cert = join(dir, 'server.pem');
  const ext = join(dir, 'san.ext');
  const openssl = (...args: string[]): void => { execFileSync('openssl', args, { stdio: 'ignore' }); };
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', caKey, '-out', ca, '-days', '1', '-subj', '/CN=octoserve test CA');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', '/CN=localhost');
  writeFileSync(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl('x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-out', cert, '-days', '1', '-extfile', ext);
  const token = 'test-admin-token';
  const tokenFile = join(dir, 'admin-token');
  writeFileSync(tokenFile, token);
  const coord = await startCoordinator(['--model', model.modelPath, '--tp', '1', '--queue', uniqueQueue('tls'), '--tls-cert', cert, '--tls-key', key, '--admin-token-file', tokenFile]);
  try {
    assert.match(coord.stderr(), /TLS/);
    assert.doesNotMatch(coord.stderr(), /admin token in/, 'a given token is not written anywhere');
    const secure = new OctoserveClient({ address: coord.address, credentials: grpc.credentials.createSsl(readFileSync(ca)), adminToken: token, deadlineMs: 10_000 });
    assert.deepEqual((await secure.complete({ prompt: golden.prompt, maxTokens: 12 })).tokenIds, golden.generated_token_ids.slice(0, 12));
    assert.equal((await secure.clusterStatus()).tp, 1);
    secure.close();
    const plain = new OctoserveClient({ address: coord.address, deadlineMs: 5_000 });
    const refused = await failure(plain.complete({ prompt: golden.prompt, maxTokens: 3 }));
    assert.equal(refused.codeName, 'UNAVAILABLE');
    plain.close();
  } finally {
    await coord.stop();
  }
});
