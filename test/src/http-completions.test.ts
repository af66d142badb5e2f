// The HTTP API of a launched coordinator, through the official openai client and raw requests:
// greedy completions reproduce the stories260K goldens (streamed and not), stop strings are cut,
// seeds reproduce, and every refusal comes in OpenAI's error envelope with its status.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import OpenAI from 'openai';
import { Transformer, loadWeights, openLlama2c } from '@octoserve/model';
import { findTestModel, loadGoldenCases, type GoldenCase, type TestModel } from '@octoserve/testkit';
import { dropQueue, startCoordinator, uniqueQueue, type Coordinator } from './coordinator-process.js';

const model: TestModel = await findTestModel();
const cases: GoldenCase[] = loadGoldenCases(model);
const golden = (i: number): GoldenCase => cases[i] as GoldenCase;
const KEY = 'test-key-123';

/** A raw request: status and parsed body. */
function raw(base: string, method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, base), { method, headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => { text += d; }).on('end', () => resolve({ status: res.statusCode ?? 0, body: text === '' ? undefined : JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function assertEnvelope(r: { status: number; body: any }, status: number): void {
  assert.equal(r.status, status, JSON.stringify(r.body));
  const e = r.body?.error;
  assert.equal(typeof e?.message, 'string');
  assert.equal(typeof e?.type, 'string');
  assert.ok('param' in e && 'code' in e);
}

describe('the HTTP API of a launched tp=2 cluster', () => {
  const queue = uniqueQueue('http');
  let coord: Coordinator;
  let base: string;
  let openai: OpenAI;

  before(async () => {
    coord = await startCoordinator(['--model', model.modelPath, '--tp', '2', '--queue', queue, '--http-port', '0', '--api-key', KEY, '--max-sequences', '4']);
    base = (await coord.waitFor(/HTTP API \(OpenAI-compatible\) on (\S+?),?\s/, 1_000))[1] as string;
    openai = new OpenAI({ baseURL: `${base}/v1`, apiKey: KEY, maxRetries: 0, timeout: 30_000 });
  });
  after(async () => {
    await coord?.stop();
    dropQueue(queue);
  });

  test('greedy /v1/completions reproduce the goldens, streamed and not; a shorter max_tokens gives a prefix', async () => {
    for (const c of [golden(0), golden(3)]) {
      const budget = 257 - c.prompt_token_ids.length;
      const whole = await openai.completions.create({ model: 'stories260K', prompt: c.prompt, max_tokens: budget, temperature: 0 });
      assert.equal(whole.choices[0]?.text, c.continuation_text);
      assert.equal(whole.usage?.completion_tokens, c.generated_token_ids.length);
      assert.equal((whole as any).octoserve.coordinator, coord.address);
      let streamed = '';
      let usage: unknown;
      const stream = await openai.completions.create({ model: 'stories260K', prompt: c.prompt, max_tokens: budget, temperature: 0, stream: true, stream_options: { include_usage: true } });
      for await (const chunk of stream) {
        if (chunk.choices.length === 0) usage = chunk.usage;
        streamed += chunk.choices[0]?.text ?? '';
      }
      assert.equal(streamed, c.continuation_text);
      assert.equal((usage as { completion_tokens: number }).completion_tokens, c.generated_token_ids.length);
      const short = await openai.completions.create({ model: 'stories260K', prompt: c.prompt, max_tokens: 10, temperature: 0 });
      assert.ok(c.continuation_text.startsWith(short.choices[0]?.text ?? '?'));
      assert.equal(short.choices[0]?.finish_reason, 'length');
    }
  });

  test('a stop string is cut exactly and never sent; seeds reproduce; n gives n choices', async () => {
    const c = golden(0);
    const stop = c.continuation_text.slice(20, 26);
    const cut = c.continuation_text.slice(0, c.continuation_text.indexOf(stop));
    const r = await openai.completions.create({ model: 'stories260K', prompt: c.prompt, max_tokens: 200, temperature: 0, stop: [stop] });
    assert.equal(r.choices[0]?.text, cut);
    assert.equal(r.choices[0]?.finish_reason, 'stop');
    let streamed = '';
    for await (const chunk of await openai.completions.create({ model: 'stories260K', prompt: c.prompt, max_tokens: 200, temperature: 0, stop, stream: true })) streamed += chunk.choices[0]?.text ?? '';
    assert.equal(streamed, cut);
    const a = await openai.completions.create({ model: 'stories260K', prompt: c.prompt, max_tokens: 40, temperature: 1, seed: 7, n: 3 });
    const b = await openai.completions.create({ model: 'stories260K', prompt: c.prompt, max_tokens: 40, temperature: 1, seed: 7, n: 3 });
    assert.equal(a.choices.length, 3);
    assert.deepEqual(a.choices.map((x) => x.text), b.choices.map((x) => x.text));
    assert.deepEqual(a.choices.map((x) => x.index).sort(), [0, 1, 2]);
  });

  test('logprobs and top_logprobs equal the reference engine\'s log-softmax within 1e-4', async () => {
    const c = golden(2);
    const steps = 6;
    const out = await openai.completions.create({ model: 'stories260K', prompt: c.prompt, max_tokens: steps, temperature: 0, logprobs: 3 });
    const lp = out.choices[0]?.logprobs;
    assert.ok(lp !== null && lp !== undefined, 'logprobs are returned');
    assert.equal(lp.token_logprobs?.length, steps);
    // the reference: the same prompt and the golden continuation through the single-process forward
    const ckpt = openLlama2c(model.modelPath);
    const reference = new Transformer(loadWeights(ckpt));
    ckpt.close();
    const ids = [...c.prompt_token_ids, ...c.generated_token_ids];
    for (let pos = 0, k = 0; k < steps; pos++) {
      const logits = reference.forward(ids[pos]!, pos);
      if (pos < c.prompt_token_ids.length - 1) continue;
      let max = -Infinity;
      for (const v of logits) max = Math.max(max, v);
      let z = 0;
      for (const v of logits) z += Math.exp(v - max);
      const lse = max + Math.log(z);
      const want = (logits[ids[pos + 1]!] as number) - lse;
      const got = lp.token_logprobs![k] as number;
      assert.ok(Math.abs(got - want) <= 1e-4, `token ${k}: logprob ${got}, reference ${want}`);
      const top = Array.from(logits).map((v) => v - lse).sort((a, b) => b - a).slice(0, 3);
      const gotTop = Object.values(lp.top_logprobs![k] ?? {}).sort((a, b) => b - a);
      assert.equal(gotTop.length, 3, `token ${k}: three top_logprobs`);
      gotTop.forEach((v, j) => assert.ok(Math.abs(v - top[j]!) <= 1e-4, `token ${k}, top ${j}: ${v} vs ${top[j]}`));
      k++;
    }
  });

  test('GET /metrics over HTTP: generation_tokens_total grows by what a completion reported', async () => {
    const scrape = async (): Promise<number> => {
      const res = await fetch(`${base}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
      const line = (await res.text()).split('\n').find((l) => l.startsWith('octoserve:generation_tokens_total '));
      assert.ok(line !== undefined, 'octoserve:generation_tokens_total is exported');
      return Number(line.split(' ')[1]);
    };
    const before = await scrape();
    const out = await openai.completions.create({ model: 'stories260K', prompt: golden(1).prompt, max_tokens: 17, temperature: 0 });
    assert.equal(out.usage?.completion_tokens, 17);
    assert.equal(await scrape(), before + 17);
  });

  test('every refusal is in the envelope with its status', async () => {
    const ok = JSON.stringify({ prompt: 'Once', max_tokens: 2 });
    assertEnvelope(await raw(base, 'POST', '/v1/completions', '{"prompt": "Once', {}), 400);
    assertEnvelope(await raw(base, 'POST', '/v1/completions', JSON.stringify({ prompt: 'Once', max_tokens: 'two' })), 400);
    assertEnvelope(await raw(base, 'POST', '/v1/completions', JSON.stringify({ prompt: 'Once', temperature: -1 })), 400);
    assertEnvelope(await raw(base, 'POST', '/v1/completions', ok, { authorization: '' }), 401);
    assertEnvelope(await raw(base, 'POST', '/v1/completions', ok, { authorization: 'Bearer wrong' }), 401);
    assertEnvelope(await raw(base, 'POST', '/v1/completions', JSON.stringify({ model: 'gpt-9', prompt: 'Once' })), 404);
    assertEnvelope(await raw(base, 'GET', '/v1/nothing-here'), 404);
    assertEnvelope(await raw(base, 'POST', '/v1/completions', JSON.stringify({ prompt: 'x'.repeat(2 * 1024 * 1024) })), 413);
    assertEnvelope(await raw(base, 'POST', '/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] })), 400);
    const unknown = await raw(base, 'POST', '/v1/completions', JSON.stringify({ prompt: 'Once', max_tokens: 2, temperature: 0, frobnicate: true }));
    assert.equal(unknown.status, 200);
    assert.equal((await raw(base, 'GET', '/health')).status, 200);
    const models = await raw(base, 'GET', '/v1/models');
    assert.equal(models.body.data[0].id, 'stories260K');
    const tok = await raw(base, 'POST', '/tokenize', JSON.stringify({ prompt: golden(0).prompt }));
    assert.deepEqual(tok.body.tokens, golden(0).prompt_token_ids);
  });
});
