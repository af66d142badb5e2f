// Throwaway certificates for tests: a CA and one leaf it signed (SAN
// IP:127.0.0.1 and DNS:localhost, usable as server and client), made with the
// openssl CLI in a temporary directory. Never a checked-in key.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InternalTls } from '@octoserve/wire';

export interface TestPki extends InternalTls {
  /** The PEM files: ca.pem, leaf.pem, leaf.key. */
  files: { ca: string; cert: string; key: string };
  remove(): void;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

export function makeTestPki(name = 'octoserve-test'): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'octoserve-pki-'));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(dir, ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', `/CN=${name} CA`]);
  openssl(dir, ['req', ...ec, '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', `/CN=${name} node`]);
  writeFileSync(join(dir, 'leaf.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n');
  openssl(dir, ['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', `0x${randomBytes(8).toString('hex')}`,
    '-out', 'leaf.pem', '-days', '1', '-extfile', 'leaf.ext']);
  const files = { ca: join(dir, 'ca.pem'), cert: join(dir, 'leaf.pem'), key: join(dir, 'leaf.key') };
  return {
    ca: readFileSync(files.ca), cert: readFileSync(files.cert), key: readFileSync(files.key), files,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
