// The cluster token on internal gRPC links: a real server and client on 127.0.0.1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import {
  INTERNAL_CHANNEL_OPTIONS, INTERNAL_SERVER_OPTIONS, workerServices,
} from './services.js';
import { internalClientOptions, internalServerOptions, tokenMatches } from './internal-auth.js';
import type { RegisterReply__Output } from './gen/octoserve/v1/RegisterReply.js';

test('tokens compare equal only when identical', () => {
  assert.ok(tokenMatches('abc', 'abc'));
  for (const other of ['abd', 'ab', 'abcd', '', undefined]) assert.ok(!tokenMatches('abc', other), String(other));
});

test('a server with a token ends calls without it UNAUTHENTICATED before the handler runs; a client with it gets through', async () => {
  let handled = 0;
  const server = new grpc.Server(internalServerOptions(INTERNAL_SERVER_OPTIONS, { clusterToken: 'right' }, 'this test server'));
  server.addService(workerServices().Registry.service, {
    Register: (_call: unknown, cb: grpc.sendUnaryData<RegisterReply__Output>) => { handled++; cb(null, { accepted: true, message: '' }); },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  const call = (token: string | undefined): Promise<RegisterReply__Output | grpc.ServiceError> => {
    const client = new (workerServices().Registry)(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), internalClientOptions(INTERNAL_CHANNEL_OPTIONS, { clusterToken: token }));
    return new Promise((resolve) => client.Register({ rank: 0 }, { deadline: Date.now() + 5_000 }, (err, res) => { client.close(); resolve(err ?? (res as RegisterReply__Output)); }));
  };
  try {
    for (const [token, sent] of [[undefined, 'none'], ['wrong', 'a different one']] as const) {
      const r = await call(token);
      assert.ok(r instanceof Error, 'a call without the right token was served');
      assert.equal((r as grpc.ServiceError).code, grpc.status.UNAUTHENTICATED);
      assert.equal((r as grpc.ServiceError).details, `this test server belongs to another cluster: missing or wrong cluster token (the call carried ${sent})`);
    }
    assert.equal(handled, 0);
    const ok = await call('right');
    assert.ok(!(ok instanceof Error), String(ok));
    assert.equal(handled, 1);
  } finally {
    server.forceShutdown();
  }
});
