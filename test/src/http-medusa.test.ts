// The HTTP API of a coordinator launched with Medusa heads (`octoserve launch --medusa DIR`):
// greedy completions still reproduce the stories260K goldens, streamed and not, in fewer steps
// than tokens; logprobs come from the verification pass and equal the reference engine's
// log-softmax; a stop string that spans two tokens accepted in one step is cut exactly; and the
// speculative-decoding counters in /metrics grow by what the responses reported.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { Transformer, loadWeights, openLlama2c } from '@octoserve/model';
import { findTestModel, loadGoldenCases, type GoldenCase, type TestModel } from '@octoserve/testkit';
import { dropQueue, startCoordinator, uniqueQueue, type Coordinator } from './coordinator-process.js';
import { trainTestHeads } from './helpers.js';

const model: TestModel = await findTestModel();
const cases: GoldenCase[] = loadGoldenCases(model);
const golden = (i: number): GoldenCase => cases[i] as GoldenCase;

/** octoserve's extension field of a response. */
interface OctoserveNumbers { tokens_per_step: number; steps: number; medusa: string | null; accepted_per_depth: number[]; choices: { draftTokens: number }[] }
const numbers = (r: unknown): OctoserveNumbers => (r as { octoserve: OctoserveNumbers }).octoserve;

/** log-softmax of the reference engine over `ids`, at the positions that predict ids[from..from+count). */
function referenceLogSoftmax(ids: readonly number[], from: number, count: number): Float64Array[] {
  const ckpt = openLlama2c(model.modelPath);
  const reference = new Transformer(loadWeights(ckpt));
  ckpt.close();
  const rows: Float64Array[] = [];
  for (let pos = 0; rows.length < count; pos++) {
    const logits = reference.forward(ids[pos]!, pos);
    if (pos < from - 1) continue;
    let max = -Infinity;
    for (const v of logits) max = Math.max(max, v);
    let z = 0;
    for (const v of logits) z += Math.exp(v - max);
    const lse = max + Math.log(z);
    rows.push(Float64Array.from(logits, (v) => v - lse));
  }
  return rows;
}

/** The value of an unlabelled sample in Prometheus text, or of one with exactly `label`. */
function sample(text: string, name: string, label = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${label === '' ? '' : `{${label}}`} `));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

describe('the HTTP API of a tp=2 cluster decoding with Medusa heads', () => {
  const queue = uniqueQueue('http-medusa');
  let coord: Coordinator;
  let base: string;
  let openai: OpenAI;

  before(async () => {
    const headsDir = trainTestHeads(model.modelPath, 6_000);
    coord = await startCoordinator(['--model', model.modelPath, '--tp', '2', '--queue', queue, '--http-port', '0', '--medusa', headsDir, '--max-sequences', '4']);
    base = (await coord.waitFor(/HTTP API \(OpenAI-compatible\) on (\S+?),?\s/, 1_000))[1] as string;
    openai = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'none', maxRetries: 0, timeout: 60_000 });
  });
  after(async () => {
    await coord?.stop();
    dropQueue(queue);
  });

  test('greedy completions reproduce the goldens, streamed and not, with more than one token per step', async () => {
    for (const c of [golden(0), golden(4)]) {
      const budget = 257 - c.prompt_token_ids.length;
      const whole = await openai.completions.create({ model: 'stories260K', prompt: c.prompt, max_tokens: budget, temperature: 0 });
      assert.equal(whole.choices[0]?.text, c.continuation_text);
      assert.equal(whole.usage?.completion_tokens, c.generated_token_ids.length);
      const n = numbers(whole);
      assert.equal(n.medusa, 'mc_sim_7b_63');
      assert.ok(n.tokens_per_step > 1, `${n.tokens_per_step} tokens per step`);
      let streamed = '';
      for await (const chunk of await openai.completions.create({ model: 'stories260K', prompt: c.prompt, max_tokens: budget, temperature: 0, stream: true })) {
        streamed += chunk.choices[0]?.text ?? '';
      }
      assert.equal(streamed, c.continuation_text);
    }
  });

  test('logprobs with Medusa equal the reference engine\'s log-softmax within 1e-4, streamed per accepted step', async () => {
    const c = golden(2);
    const count = 40;
    const rows = referenceLogSoftmax([...c.prompt_token_ids, ...c.generated_token_ids], c.prompt_token_ids.length, count);
    const check = (k: number, got: number | null | undefined, top: Record<string, number> | undefined): void => {
      const want = rows[k]![c.generated_token_ids[k]!]!;
      assert.ok(typeof got === 'number' && Math.abs(got - want) <= 1e-4, `token ${k}: logprob ${got}, reference ${want}`);
      const best = Array.from(rows[k]!).sort((a, b) => b - a).slice(0, 2);
      const gotTop = Object.values(top ?? {}).sort((a, b) => b - a);
      assert.equal(gotTop.length, 2, `token ${k}: two top_logprobs`);
      gotTop.forEach((v, j) => assert.ok(Math.abs(v - best[j]!) <= 1e-4, `token ${k}, top ${j}: ${v} vs ${best[j]}`));
    };
    const whole = await openai.completions.create({ model: 'stories260K', prompt: c.prompt, max_tokens: count, temperature: 0, logprobs: 2 });
    const lp = whole.choices[0]?.logprobs;
    assert.equal(lp?.token_logprobs?.length, count);
    for (let k = 0; k < count; k++) check(k, lp?.token_logprobs?.[k], lp?.top_logprobs?.[k]);
    // streamed: a chunk carries one step's accepted tokens, each with its own logprob
    let k = 0;
    let widest = 0;
    for await (const chunk of await openai.completions.create({ model: 'stories260K', prompt: c.prompt, max_tokens: count, temperature: 0, logprobs: 2, stream: true })) {
      const l = chunk.choices[0]?.logprobs;
      const n = l?.token_logprobs?.length ?? 0;
      widest = Math.max(widest, n);
      for (let j = 0; j < n; j++, k++) check(k, l?.token_logprobs?.[j], l?.top_logprobs?.[j]);
    }
    assert.equal(k, count);
    assert.ok(widest >= 2, 'some chunk carries several tokens accepted in one step');
  });

  test('a stop string spanning two tokens accepted in the same step is cut exactly and never sent', async () => {
    const c = golden(0);
    // a step that accepted at least two tokens, and a stop string across the boundary between them
    const text = c.continuation_text;
    let stop: string | undefined;
    let cutAt = -1;
    for await (const chunk of await openai.completions.create({ model: 'stories260K', prompt: c.prompt, max_tokens: 120, temperature: 0, logprobs: 0, stream: true })) {
      const offsets = chunk.choices[0]?.logprobs?.text_offset ?? [];
      for (const p of offsets.slice(1)) {
        const candidate = text.slice(p - 2, p + 2);
        if (stop === undefined && p >= 2 && candidate.length === 4 && text.indexOf(candidate) === p - 2) {
          stop = candidate;
          cutAt = p - 2;
        }
      }
    }
    assert.ok(stop !== undefined, 'a step accepted two tokens whose joint text makes a fresh stop string');
    const want = c.continuation_text.slice(0, cutAt);
    const r = await openai.completions.create({ model: 'stories260K', prompt: c.prompt, max_tokens: 120, temperature: 0, stop: [stop] });
    assert.equal(r.choices[0]?.text, want);
    assert.equal(r.choices[0]?.finish_reason, 'stop');
    let streamed = '';
    for await (const chunk of await openai.completions.create({ model: 'stories260K', prompt: c.prompt, max_tokens: 120, temperature: 0, stop, stream: true })) {
      streamed += chunk.choices[0]?.text ?? '';
    }
    assert.equal(streamed, want);
  });

  test('/metrics: the speculative-decoding counters grow by the drafts and accepted tokens the responses reported', async () => {
    const scrape = async (): Promise<string> => (await fetch(`${base}/metrics`)).text();
    const before = await scrape();
    const done = await Promise.all([golden(1), golden(3), golden(5)].map((c) =>
      openai.completions.create({ model: 'stories260K', prompt: c.prompt, max_tokens: 48, temperature: 0 })));
    const after = await scrape();
    const delta = (name: string, label = ''): number => sample(after, name, label) - sample(before, name, label);
    const drafts = done.reduce((n, r) => n + numbers(r).choices.reduce((m, s) => m + s.draftTokens, 0), 0);
    assert.ok(drafts > 0);
    assert.equal(delta('octoserve:spec_decode_num_draft_tokens_total'), drafts);
    const depths = numbers(done[0]).accepted_per_depth.length;
    let accepted = 0;
    for (let d = 0; d < depths; d++) {
      const atDepth = done.reduce((n, r) => n + (numbers(r).accepted_per_depth[d] ?? 0), 0);
      accepted += atDepth;
      assert.equal(delta('octoserve:spec_decode_num_accepted_tokens_per_pos_total', `position="${d}"`), atDepth, `depth ${d}`);
    }
    assert.ok(accepted > 0);
    assert.equal(delta('octoserve:spec_decode_num_accepted_tokens_total'), accepted);
    assert.equal(delta('octoserve:generation_tokens_total'), done.reduce((n, r) => n + (r.usage?.completion_tokens ?? 0), 0));
  });
});
