// Where a worker's cluster token and TLS material come from, and the mistakes refused at start.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { UsageError } from '../errors.js';
import { internalSecurityFromFlags } from './internal-security.js';
import { makeTestPki, runCli } from '@octoserve/testkit';

const pki = makeTestPki();
const other = makeTestPki('other');
after(() => { pki.remove(); other.remove(); });
const dir = pki.files.ca.slice(0, pki.files.ca.lastIndexOf('/'));

test('the token comes from --cluster-token-file (trimmed), else $OCTOSERVE_CLUSTER_TOKEN; none means open', () => {
  const file = join(dir, 'token');
  writeFileSync(file, 'from-file\n');
  assert.deepEqual(internalSecurityFromFlags({ 'cluster-token-file': file }, undefined, { OCTOSERVE_CLUSTER_TOKEN: 'from-env' }), { clusterToken: 'from-file' });
  assert.deepEqual(internalSecurityFromFlags({}, undefined, { OCTOSERVE_CLUSTER_TOKEN: 'from-env' }), { clusterToken: 'from-env' });
  assert.deepEqual(internalSecurityFromFlags({}, undefined, {}), {});
});

test('token mistakes: a plain --cluster-token, an empty or unreadable file', () => {
  assert.throws(() => internalSecurityFromFlags({ 'cluster-token': 'abc' }, undefined, {}), (e: unknown) => e instanceof UsageError && /ps would show|anyone who runs ps/.test(e.message));
  const empty = join(dir, 'empty');
  writeFileSync(empty, '\n');
  assert.throws(() => internalSecurityFromFlags({ 'cluster-token-file': empty }, undefined, {}), /the file is empty/);
  assert.throws(() => internalSecurityFromFlags({ 'cluster-token-file': join(dir, 'nope') }, undefined, {}), /--cluster-token-file .*nope: cannot read it \(no such file\)/);
});

test('TLS: all three files, or the PEM environment a local coordinator sets; partial or mismatched material is refused', () => {
  const flags = { 'tls-ca': pki.files.ca, 'tls-cert': pki.files.cert, 'tls-key': pki.files.key };
  const fromFiles = internalSecurityFromFlags(flags, undefined, {});
  assert.ok(fromFiles.tls?.ca.equals(pki.ca) && fromFiles.tls.cert.equals(pki.cert) && fromFiles.tls.key.equals(pki.key));
  const env = { OCTOSERVE_INTERNAL_TLS_CA: pki.ca.toString(), OCTOSERVE_INTERNAL_TLS_CERT: pki.cert.toString(), OCTOSERVE_INTERNAL_TLS_KEY: pki.key.toString() };
  assert.ok(internalSecurityFromFlags({}, undefined, env).tls?.key.equals(pki.key));
  assert.throws(() => internalSecurityFromFlags({ 'tls-ca': pki.files.ca, 'tls-cert': pki.files.cert }, undefined, {}), /--tls-ca, --tls-cert and --tls-key go together/);
  assert.throws(() => internalSecurityFromFlags({}, undefined, { OCTOSERVE_INTERNAL_TLS_CA: 'x' }), /go together/);
  assert.throws(() => internalSecurityFromFlags({ ...flags, 'tls-key': join(dir, 'missing.key') }, undefined, {}), /--tls-key .*missing\.key: cannot read it \(no such file\)/);
  assert.throws(() => internalSecurityFromFlags({ ...flags, 'tls-key': other.files.key }, undefined, {}), /not a usable CA, certificate and key/);
});

test('octoserve worker: a TLS flag alone or a plain --cluster-token exits 2 with one line, before listening', () => {
  const base = ['worker', '--rank', '0', '--world', '1', '--listen', '127.0.0.1:0', '--coordinator', '127.0.0.1:1'];
  const partial = runCli([...base, '--tls-cert', pki.files.cert]);
  assert.equal(partial.status, 2, partial.stderr);
  assert.match(partial.stderr, /^octoserve worker: --tls-ca, --tls-cert and --tls-key go together/);
  const plain = runCli([...base, '--cluster-token', 'abc']);
  assert.equal(plain.status, 2, plain.stderr);
  assert.equal(plain.stderr.trimEnd().split('\n').length, 1, plain.stderr);
});
