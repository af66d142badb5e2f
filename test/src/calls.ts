// What the serving tests do by hand: calls with hand-made bytes, the status a call failed
// with, waiting for a condition with a deadline, and a free port.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { OctoserveError } from '@octoserve/client';

/** The status a call failed with (it must fail, with an OctoserveError). */
export async function failure(p: Promise<unknown>): Promise<OctoserveError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof OctoserveError, `not an OctoserveError: ${String(err)}`);
    return err;
  }
  assert.fail('the call succeeded');
}

/** A unary call with hand-made request bytes (and metadata): the error, or the reply's bytes. */
export function rawUnary(address: string, path: string, bytes: Buffer, metadata = new grpc.Metadata()): Promise<grpc.ServiceError | Buffer> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, bytes, metadata, { deadline: Date.now() + 10_000 }, (err, res) => {
      client.close();
      resolve(err ?? (res as Buffer));
    });
  });
}

/** Resolves once `check` holds, polling every `everyMs`; fails the test after `timeoutMs`. */
export async function until(what: string, timeoutMs: number, check: () => Promise<boolean>, everyMs = 100): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  assert.fail(`${what}: not within ${timeoutMs} ms`);
}

/** A port free on `host` now (asked of the kernel, then released). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const addr = s.address();
      s.close(() => (typeof addr === 'object' && addr !== null ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}
