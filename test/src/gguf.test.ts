// GGUF end to end: `octoserve convert --format gguf` of stories260K, then `octoserve generate` on
// the .gguf alone (its embedded tokenizer, workers reading their slices of it) gives run.c's goldens.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findTestModel, loadGoldenCases, type GoldenCase, type TestModel } from '@octoserve/testkit';
import { LONG, runCli } from './helpers.js';

const model: TestModel = await findTestModel();
const cases: GoldenCase[] = loadGoldenCases(model);
const dir = mkdtempSync(join(tmpdir(), 'octoserve-e2e-gguf-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const gguf = join(dir, 'stories260K-F32.gguf');

const goldenBudget = (c: GoldenCase): number => 257 - c.prompt_token_ids.length;

interface GenerateJson { prompt_token_ids: number[]; token_ids: number[]; text: string }

test('octoserve convert --format gguf writes an F32 GGUF of stories260K', async () => {
  const r = await runCli(['convert', '--model', model.modelPath, '--out', gguf, '--format', 'gguf']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /to gguf:\n .*stories260K-F32\.gguf \([\d,]+ bytes\)/);
  assert.equal(readFileSync(gguf).subarray(0, 4).toString('latin1'), 'GGUF');
});

test('octoserve generate --tp 2 --model X.gguf --json reproduces run.c (ids and text)', async () => {
  for (const c of cases.slice(0, LONG ? cases.length : 2)) {
    const r = await runCli(['generate', '--model', gguf, '--prompt', c.prompt, '--max-tokens', String(goldenBudget(c)), '--tp', '2', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as GenerateJson;
    assert.deepEqual(out.prompt_token_ids, c.prompt_token_ids);
    assert.deepEqual(out.token_ids, c.generated_token_ids, `tokens differ for "${c.prompt}"`);
    assert.equal(out.text, c.text);
  }
});

test('octoserve generate on the .gguf in one process gives the same tokens', async () => {
  const c = cases[3] as GoldenCase;
  const r = await runCli(['generate', '--model', gguf, '--prompt', c.prompt, '--max-tokens', String(goldenBudget(c)), '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual((JSON.parse(r.stdout) as GenerateJson).token_ids, c.generated_token_ids);
});

test('converting the GGUF back to llama2.c restores tok512.bin byte for byte from its vocabulary', async () => {
  const back = join(dir, 'back');
  const r = await runCli(['convert', '--model', gguf, '--out', back, '--format', 'llama2c']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(readFileSync(join(back, 'tokenizer.bin')), readFileSync(model.tokenizerPath));
});

test('an HF directory converts to a Q8_0 GGUF that tensor-parallel generate runs', async () => {
  const hf = join(dir, 'hf');
  assert.equal((await runCli(['convert', '--model', model.modelPath, '--out', hf])).code, 0);
  const q8 = join(dir, 'q8');
  const r = await runCli(['convert', '--model', hf, '--out', q8, '--format', 'gguf', '--dtype', 'Q8_0']);
  assert.equal(r.code, 0, r.stderr);
  const c = cases[0] as GoldenCase;
  const g = await runCli(['generate', '--model', join(q8, 'model.gguf'), '--prompt', c.prompt, '--max-tokens', '8', '--tp', '2', '--json']);
  assert.equal(g.code, 0, g.stderr);
  const out = JSON.parse(g.stdout) as GenerateJson;
  assert.deepEqual(out.prompt_token_ids, c.prompt_token_ids);
  assert.deepEqual(out.token_ids, c.generated_token_ids.slice(0, 8), 'Q8_0 keeps the first greedy tokens of stories260K');
});

test('a truncated .gguf fails generate with one line naming the file', async () => {
  const cut = join(dir, 'cut.gguf');
  writeFileSync(cut, readFileSync(gguf).subarray(0, 5000));
  const r = await runCli(['generate', '--model', cut, '--prompt', 'hi', '--max-tokens', '4']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /cut\.gguf: truncated GGUF (file|header)/);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
});

test('a Q4_0 GGUF runs as stored: the workers hold its 4-bit blocks, and every tp gives the tokens of its weights in llama2.c form', async () => {
  const q4 = join(dir, 'q4');
  assert.equal((await runCli(['convert', '--model', model.modelPath, '--out', q4, '--format', 'gguf', '--dtype', 'Q4_0'])).code, 0);
  const file = join(q4, 'model.gguf');
  // the same weights as float32: the GGUF's blocks dequantized, written as llama2.c
  const back = join(dir, 'q4-back');
  assert.equal((await runCli(['convert', '--model', file, '--out', back, '--format', 'llama2c'])).code, 0);
  const c = cases[0] as GoldenCase;
  const greedy = async (path: string, extra: string[]): Promise<{ ids: number[]; stderr: string }> => {
    const r = await runCli(['generate', '--model', path, '--prompt', c.prompt, '--max-tokens', '48', '--json', ...extra]);
    assert.equal(r.code, 0, r.stderr);
    return { ids: (JSON.parse(r.stdout) as GenerateJson).token_ids, stderr: r.stderr };
  };
  const floats = (await greedy(join(back, 'model.bin'), ['--tokenizer', join(back, 'tokenizer.bin')])).ids;
  assert.equal(floats.length, 48);
  assert.deepEqual((await greedy(file, [])).ids, floats, 'reference engine on the GGUF');
  // tp 4 and 8 cut wo inside its 32-column blocks (16 and 8 columns a rank): those ranks get the whole boundary blocks
  for (const extra of [['--tp', '2', '--verbose'], ['--tp', '4'], ['--tp', '8', '--load', 'upload']]) {
    const { ids, stderr } = await greedy(file, extra);
    assert.deepEqual(ids, floats, `generate ${extra.join(' ')}`);
    if (extra.includes('--verbose')) assert.match(stderr, /rank 0: shard loaded \(f32; [\d.]+ MB: \d+ weights in float32, \d+ in 4-bit blocks; 11 graphs per step\)/);
  }
});
