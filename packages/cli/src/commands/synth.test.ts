// `octoserve synth` and `octoserve convert` end to end: every format of one model generates the same tokens.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { findTestModel, runCli } from '@octoserve/testkit';

const dir = mkdtempSync(join(tmpdir(), 'octoserve-cli-synth-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function greedyIds(model: string, prompt: string, maxTokens = 40): number[] {
  const r = runCli(['generate', '--model', model, '--prompt', prompt, '--max-tokens', String(maxTokens), '--json']);
  assert.equal(r.status, 0, r.stderr);
  return (JSON.parse(r.stdout) as { token_ids: number[] }).token_ids;
}

for (const shape of ['tiny', 'gqa']) {
  describe(`synthetic ${shape}`, () => {
    test('llama2c, hf, and llama2c converted to hf give the same greedy tokens', () => {
      const bin = join(dir, `${shape}-bin`);
      const hf = join(dir, `${shape}-hf`);
      const converted = join(dir, `${shape}-converted`);
      const w1 = runCli(['synth', '--shape', shape, '--format', 'llama2c', '--out', bin, '--seed', '3']);
      assert.equal(w1.status, 0, w1.stderr);
      assert.match(w1.stdout, new RegExp(`wrote synthetic ${shape} model, seed 3, llama2c`));
      assert.match(w1.stdout, /model\.bin \([\d,]+ bytes\)/);
      assert.match(w1.stdout, /tokenizer\.bin/);
      assert.equal(runCli(['synth', '--shape', shape, '--format', 'hf', '--out', hf, '--seed', '3']).status, 0);
      const c = runCli(['convert', '--model', bin, '--out', converted]);
      assert.equal(c.status, 0, c.stderr);
      assert.ok(existsSync(join(converted, 'config.json')) && existsSync(join(converted, 'model.safetensors')));
      assert.ok(existsSync(join(converted, 'tokenizer.bin')), 'convert copies the tokenizer');
      const want = greedyIds(bin, 'the little dog');
      assert.ok(want.length > 0);
      assert.deepEqual(greedyIds(hf, 'the little dog'), want);
      assert.deepEqual(greedyIds(converted, 'the little dog'), want);
    });
  });
}

test('stories260K converted to HF (and to BF16) by the CLI', async () => {
  const model = await findTestModel();
  const out = join(dir, 'stories260K-hf');
  const r = runCli(['convert', '--model', model.modelPath, '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).hidden_size, 64);
  assert.deepEqual(greedyIds(out, 'Once upon a time', 100), greedyIds(model.modelPath, 'Once upon a time', 100));
  const bf16 = join(dir, 'stories260K-bf16');
  assert.equal(runCli(['convert', '--model', model.modelPath, '--out', bf16, '--dtype', 'BF16']).status, 0);
  assert.equal(JSON.parse(readFileSync(join(bf16, 'config.json'), 'utf8')).torch_dtype, 'bfloat16');
  assert.equal(greedyIds(bf16, 'Once upon a time', 5).length, 5);
});

test('synth and convert refuse bad flags with exit 2, and --help exits 0', () => {
  const bad = runCli(['synth', '--shape', 'huge', '--format', 'hf', '--out', join(dir, 'x')]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--shape must be one of tiny, gqa, stories15m, stories110m, got 'huge'/);
  assert.equal(runCli(['convert', '--model', 'x']).status, 2);
  for (const cmd of ['synth', 'convert']) {
    const h = runCli([cmd, '--help']);
    assert.equal(h.status, 0);
    assert.match(h.stdout, /--out PATH/);
  }
});
