// The HTTP API under load and while draining, on a launched tp=2 coordinator: 64 streaming
// clients at once (eight sequence slots, the rest waiting) each get their golden text exactly,
// with no error; a drain makes /health a 503 that says why and refuses new completions with a
// 503 in OpenAI's envelope, while the stream in flight runs to its end; resume serves again.
// `octoserve bench serve` drives both APIs side by side against it.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { OctoserveClient } from '@octoserve/client';
import { openModel, type Tokenizer } from '@octoserve/model';
import { findTestModel, loadGoldenCases, runCli, type GoldenCase, type TestModel } from '@octoserve/testkit';
import { dropQueue, startCoordinator, uniqueQueue, type Coordinator } from './coordinator-process.js';

const model: TestModel = await findTestModel();
const cases: GoldenCase[] = loadGoldenCases(model);

/** The text a stream must carry for the first `k` golden tokens of `c`. */
function goldenText(tokenizer: Tokenizer, c: GoldenCase, k: number): string {
  return tokenizer.decode(c.generated_token_ids.slice(0, k), c.prompt_token_ids.at(-1));
}

/** Streams a completion with raw fetch, as any SSE client would; resolves with its text and the frames' shape checked. */
async function streamed(base: string, prompt: string, maxTokens: number, onFirst?: () => void): Promise<{ status: number; text: string; tokens: number }> {
  const res = await fetch(`${base}/v1/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt, max_tokens: maxTokens, temperature: 0, stream: true, stream_options: { include_usage: true } }),
  });
  if (res.status !== 200) return { status: res.status, text: await res.text(), tokens: 0 };
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
  const decoder = new TextDecoder();
  let buffered = '';
  let text = '';
  let tokens = -1;
  let done = false;
  for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(bytes, { stream: true });
    for (let end = buffered.indexOf('\n\n'); end >= 0; end = buffered.indexOf('\n\n')) {
      const frame = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      assert.ok(frame.startsWith('data: '), `an SSE frame: ${frame}`);
      const data = frame.slice(6);
      if (data === '[DONE]') { done = true; continue; }
      const chunk = JSON.parse(data) as { choices: { text: string }[]; usage?: { completion_tokens: number } | null };
      if (chunk.choices.length === 0) tokens = chunk.usage?.completion_tokens ?? -1;
      else {
        if (text === '' && chunk.choices[0]!.text !== '') onFirst?.();
        text += chunk.choices[0]!.text;
      }
    }
  }
  assert.ok(done, 'the stream ends with data: [DONE]');
  assert.equal(buffered, '', 'nothing after the last frame');
  return { status: 200, text, tokens };
}

describe('the HTTP API of a tp=2 cluster under load and while draining', () => {
  const queue = uniqueQueue('http-load');
  let coord: Coordinator;
  let base: string;
  let tokenizer: Tokenizer;

  before(async () => {
    const opened = await openModel({ model: model.modelPath });
    opened.checkpoint.close();
    tokenizer = opened.tokenizer;
    coord = await startCoordinator(['--model', model.modelPath, '--tp', '2', '--queue', queue, '--http-port', '0', '--max-sequences', '8', '--max-waiting', '64']);
    base = (await coord.waitFor(/HTTP API \(OpenAI-compatible\) on (\S+?),?\s/, 1_000))[1] as string;
  });
  after(async () => {
    await coord?.stop();
    dropQueue(queue);
  });

  test('64 concurrent streaming clients: every stream is its golden text, none fails', { timeout: 240_000 }, async () => {
    const clients = 64;
    const results = await Promise.all(Array.from({ length: clients }, async (_, i) => {
      const c = cases[i % cases.length] as GoldenCase;
      const k = Math.min(24 + (i % 5) * 4, c.generated_token_ids.length);
      return { i, c, k, got: await streamed(base, c.prompt, k) };
    }));
    for (const { i, c, k, got } of results) {
      assert.equal(got.status, 200, `client ${i}: ${got.text}`);
      assert.equal(got.text, goldenText(tokenizer, c, k), `client ${i}: "${c.prompt}", ${k} tokens`);
      assert.equal(got.tokens, k, `client ${i}: the usage chunk counts its tokens`);
    }
  });

  test('draining: /health is 503 with the reason, a new completion a 503 envelope, the stream in flight finishes; resume serves', { timeout: 120_000 }, async () => {
    const admin = new OctoserveClient({ address: coord.address, deadlineMs: 20_000 });
    try {
      const c = cases[5] as GoldenCase;
      const k = c.generated_token_ids.length;
      let started!: () => void;
      const first = new Promise<void>((resolve) => { started = resolve; });
      const inFlight = streamed(base, c.prompt, k, () => started());
      await first;
      assert.equal((await admin.drain({ wait: false })).state, 'draining');
      const health = await fetch(`${base}/health`);
      assert.equal(health.status, 503);
      assert.match((await health.json() as { error: { message: string } }).error.message, /draining/);
      const refused = await fetch(`${base}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'Once', max_tokens: 4 }) });
      assert.equal(refused.status, 503);
      const envelope = await refused.json() as { error: { message: string; type: string; param: unknown; code: unknown } };
      assert.match(envelope.error.message, /draining/);
      assert.ok(typeof envelope.error.type === 'string' && 'param' in envelope.error && 'code' in envelope.error);
      const finished = await inFlight;
      assert.equal(finished.text, c.continuation_text, 'the stream in flight ran to its end');
      assert.equal((await admin.resume()).state, 'serving');
      assert.equal((await fetch(`${base}/health`)).status, 200);
      const again = await streamed(base, c.prompt, 10);
      assert.equal(again.text, goldenText(tokenizer, c, 10));
    } finally {
      admin.close();
    }
  });

  test('bench serve drives gRPC and the HTTP API side by side and writes both to its JSON', { timeout: 120_000 }, () => {
    const json = join(mkdtempSync(join(tmpdir(), 'octoserve-bench-serve-')), 'serve.json');
    const r = runCli(['bench', 'serve', '--cluster', coord.address, '--http', base, '--clients', '1,2', '--requests', '1', '--max-tokens', '8', '--jobs', '0', '--json', json]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /TTFT p50 +TTFT p99 +ITL p50/);
    const out = JSON.parse(readFileSync(json, 'utf8')) as { http: string; rows: { what: string; api: string; clients: number; requests: number; tokens_per_s: number; vs_grpc: number | null }[] };
    assert.equal(out.http, base);
    assert.deepEqual(out.rows.map((x) => `${x.api} ${x.clients}`), ['grpc 1', 'openai 1', 'grpc 2', 'openai 2']);
    for (const row of out.rows) {
      assert.equal(row.requests, row.clients);
      assert.ok(row.tokens_per_s > 0, JSON.stringify(row));
      if (row.api === 'openai') assert.ok(typeof row.vs_grpc === 'number' && row.vs_grpc > 0, 'the HTTP row is compared with gRPC');
    }
    const refused = runCli(['bench', 'serve', '--cluster', coord.address, '--http', 'http://127.0.0.1:1', '--api', 'openai', '--jobs', '0']);
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /the HTTP API at http:\/\/127\.0\.0\.1:1 did not answer GET \/v1\/models/);
  });
});
