// stories260K against llama2.c run.c: every golden case, greedy, token for token, text byte for byte.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { Checkpoint } from './checkpoint.js';
import { openLlama2c } from './checkpoint-llama2c.js';
import { ReferenceEngine } from './engine.js';
import { generate } from './generate.js';
import { Sampler } from './sampling.js';
import type { Tokenizer } from './tokenizer.js';
import { loadTokenizer } from './tokenizer-load.js';
import { findTestModel, loadGoldenCases, type GoldenCase, type TestModel } from '@octoserve/testkit';

/** The 5 largest logits, [[id, logit], ...] descending (lowest id first among equals). */
function top5(logits: Float32Array): [number, number][] {
  return Array.from(logits, (v, i): [number, number] => [i, v]).sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, 5);
}

describe('stories260K golden outputs of llama2.c run.c', () => {
  let model: TestModel;
  let cases: GoldenCase[];
  let ckpt: Checkpoint;
  let tokenizer: Tokenizer;
  before(async () => {
    model = await findTestModel();
    cases = loadGoldenCases(model);
    ckpt = openLlama2c(model.modelPath);
    tokenizer = loadTokenizer(model.tokenizerPath, ckpt.config.vocabSize);
  });

  test('there are 8 cases', () => {
    assert.equal(cases.length, 8);
  });

  test('greedy tokens, finish reason and first-position logits match every case', async () => {
    const engine = ReferenceEngine.fromCheckpoint(ckpt);
    for (const c of cases) {
      const logits = engine.step(c.prompt_token_ids, c.prompt_token_ids.map((_, i) => i));
      const top = top5(logits);
      assert.deepEqual(top.map(([id]) => id), c.first_logits_top5.map(([id]) => id), `top-5 ids for "${c.prompt}"`);
      top.forEach(([, v], i) => {
        const want = c.first_logits_top5[i]![1];
        assert.ok(Math.abs(v - want) < 1e-4, `"${c.prompt}" top-5 logit ${i}: ${v} vs run.c ${want}`);
      });
      const result = await generate(engine, c.prompt_token_ids, {
        maxTokens: 257 - c.prompt_token_ids.length,
        sampler: new Sampler(ckpt.config.vocabSize, { temperature: 0 }),
        stopIds: [1, 2],
      });
      assert.deepEqual(result.tokenIds, c.generated_token_ids, `generated ids for "${c.prompt}"`);
      assert.equal(result.finishReason, c.stop_reason === 'bos' ? 'stop' : 'length', `finish reason for "${c.prompt}"`);
    }
  });

  test('the tokenizer encodes every prompt as run.c did', () => {
    for (const c of cases) assert.deepEqual(tokenizer.encode(c.prompt, { bos: true }), c.prompt_token_ids, c.prompt);
  });

  test('the printed text (prompt echo + continuation) matches run.c stdout for every case', () => {
    for (const c of cases) {
      const ids = [...c.prompt_token_ids, ...c.generated_token_ids];
      assert.equal(tokenizer.decode(ids.slice(1), ids[0]), c.text, c.prompt);
    }
  });
});
