// A full coordinator refuses with 429 in the envelope, and a streaming client that goes away
// frees its sequence slot at once: the next request is served, not refused.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { findTestModel } from '@octoserve/testkit';
import { dropQueue, startCoordinator, uniqueQueue, type Coordinator } from './coordinator-process.js';

const model = await findTestModel();

describe('the HTTP API with one sequence slot and no waiting', () => {
  const queue = uniqueQueue('http-slots');
  let coord: Coordinator;
  let base: string;

  before(async () => {
    coord = await startCoordinator(['--model', model.modelPath, '--tp', '1', '--queue', queue, '--http-port', '0', '--max-sequences', '1', '--max-waiting', '0']);
    base = (await coord.waitFor(/HTTP API \(OpenAI-compatible\) on (\S+)/, 1_000))[1] as string;
  });
  after(async () => {
    await coord?.stop();
    dropQueue(queue);
  });

  const post = (body: unknown, signal?: AbortSignal): Promise<Response> =>
    fetch(`${base}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), ...(signal === undefined ? {} : { signal }) });

  test('a busy slot is a 429; a client that disconnects frees it', async () => {
    const abort = new AbortController();
    const res = await post({ prompt: 'Once upon a time', max_tokens: 400, temperature: 0, stream: true }, abort.signal);
    assert.equal(res.status, 200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    const busy = await post({ prompt: 'Once', max_tokens: 2 });
    assert.equal(busy.status, 429);
    const env = (await busy.json()) as { error: { message: string; type: string } };
    assert.match(env.error.message, /busy/);
    abort.abort();
    const t0 = performance.now();
    let status = 0;
    while (performance.now() - t0 < 2_000) {
      const r = await post({ prompt: 'Once', max_tokens: 2, temperature: 0 });
      status = r.status;
      await r.text();
      if (status === 200) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(status, 200);
    assert.ok(performance.now() - t0 < 1_000, `the slot took ${(performance.now() - t0).toFixed(0)} ms to free`);
  });
});
