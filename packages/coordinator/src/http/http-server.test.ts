// The HTTP server itself, on a real socket before any cluster is attached: /health says it is
// loading, and a request whose body never finishes is cut off with a 408 in OpenAI's envelope
// instead of holding its connection.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { HttpApi } from './http-server.js';

/** Sends `head` and `partial` on a raw socket and never the rest; resolves with what the server answered and when. */
function unfinishedBody(base: string, head: string, partial: string): Promise<{ text: string; ms: number }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const socket = connect(Number(url.port), url.hostname);
    let text = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(head + partial));
    const done = (): void => { socket.destroy(); resolve({ text, ms: performance.now() - start }); };
    socket.on('data', (d: string) => {
      text += d;
      // the whole answer is in once its body has its content-length
      const split = text.indexOf('\r\n\r\n');
      const length = /content-length: (\d+)/i.exec(text);
      if (split >= 0 && length !== null && Buffer.byteLength(text.slice(split + 4)) >= Number(length[1])) done();
    });
    socket.on('close', done);
    socket.on('error', reject);
    socket.setTimeout(10_000, () => { socket.destroy(); reject(new Error(`no answer within 10 s; got: ${text}`)); });
  });
}

describe('the HTTP server with no cluster attached', () => {
  let api: HttpApi;
  before(async () => {
    api = await HttpApi.start({ host: '127.0.0.1', port: 0, modelPath: '/models/stories260K.bin', version: 'test', bodyTimeoutMs: 400 });
  });
  after(async () => { await api?.close(); });

  test('/health is 503 with the reason while loading; so is a completion', async () => {
    const health = await fetch(`${api.address}/health`);
    assert.equal(health.status, 503);
    const body = await health.json() as { error: { message: string; type: string; code: string } };
    assert.match(body.error.message, /loading the model/);
    const completion = await fetch(`${api.address}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"prompt":"Once"}' });
    assert.equal(completion.status, 503);
    assert.match((await completion.json() as { error: { message: string } }).error.message, /loading/);
  });

  test('a body that never finishes gets a 408 in the envelope once the body timeout passes', async () => {
    const partial = '{"prompt": "Once upon';
    const head = `POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${partial.length + 100}\r\n\r\n`;
    const { text, ms } = await unfinishedBody(api.address, head, partial);
    assert.match(text, /^HTTP\/1\.1 408 /, text);
    const json = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { error: { message: string; type: string; param: unknown; code: unknown } };
    assert.match(json.error.message, /did not arrive within 400 ms/);
    assert.ok('param' in json.error && 'code' in json.error);
    assert.ok(ms >= 350 && ms < 5_000, `answered after ${ms.toFixed(0)} ms`);
  });
});
