// `octoserve generate` end to end: the real binary against llama2.c's golden outputs, and its errors.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { findTestModel, loadGoldenCases, type GoldenCase, type TestModel, runCli } from '@octoserve/testkit';

interface GenerateJson {
  prompt_token_ids: number[];
  token_ids: number[];
  text: string;
  finish_reason: string;
  stats: { tokens: number; wall_ms: number; tok_per_s: number };
}

const dir = mkdtempSync(join(tmpdir(), 'octoserve-cli-generate-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Asserts a failed run printed exactly one line, without a stack trace. */
function assertOneLineError(stderr: string, pattern: RegExp): void {
  const lines = stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `expected one line on stderr, got:\n${stderr}`);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(stderr, /\n\s+at /);
}

describe('octoserve generate on stories260K', () => {
  let model: TestModel;
  let cases: GoldenCase[];
  before(async () => {
    model = await findTestModel();
    cases = loadGoldenCases(model);
  });

  for (const prompt of ['Once upon a time', 'A boy named', 'Sara and Ben were']) {
    test(`--json reproduces run.c for "${prompt}"`, () => {
      const c = cases.find((g) => g.prompt === prompt);
      assert.ok(c !== undefined, `golden.json has no case "${prompt}"`);
      const maxTokens = 257 - c.prompt_token_ids.length;
      const r = runCli(['generate', '--model', model.modelPath, '--prompt', prompt, '--max-tokens', String(maxTokens), '--json']);
      assert.equal(r.status, 0, r.stderr);
      const lines = r.stdout.trimEnd().split('\n');
      assert.equal(lines.length, 1, 'exactly one JSON object');
      const out = JSON.parse(lines[0]!) as GenerateJson;
      assert.deepEqual(Object.keys(out), ['prompt_token_ids', 'token_ids', 'text', 'finish_reason', 'stats']);
      assert.deepEqual(out.prompt_token_ids, c.prompt_token_ids);
      assert.deepEqual(out.token_ids, c.generated_token_ids);
      assert.equal(out.text, c.text);
      assert.equal(out.finish_reason, c.stop_reason === 'bos' ? 'stop' : 'length');
      assert.equal(out.stats.tokens, c.generated_token_ids.length);
      assert.ok(out.stats.wall_ms > 0 && out.stats.tok_per_s > 0);
    });
  }

  test('without --json, stdout is run.c stdout byte for byte, and stats go to stderr', () => {
    const c = cases.find((g) => g.prompt === 'The big dog')!;
    const r = runCli(['generate', '--model', model.dir, '--prompt', c.prompt, '--max-tokens', '256']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, c.text + '\n');
    assert.match(r.stderr, /^achieved tok\/s: [\d.]+ \(\d+ tokens in [\d.]+ ms/);
  });

  test('sampling with a seed is reproducible and --top-k 1 is greedy', () => {
    const args = ['generate', '--model', model.modelPath, '--prompt', 'Lily wanted to', '--max-tokens', '30', '--json'];
    const sampled = (seed: string): number[] => (JSON.parse(runCli([...args, '--temperature', '1', '--seed', seed]).stdout) as GenerateJson).token_ids;
    assert.deepEqual(sampled('11'), sampled('11'));
    assert.notDeepEqual(sampled('11'), sampled('12'));
    const greedy = (JSON.parse(runCli(args).stdout) as GenerateJson).token_ids;
    const topK1 = (JSON.parse(runCli([...args, '--temperature', '1', '--top-k', '1', '--seed', '5']).stdout) as GenerateJson).token_ids;
    assert.deepEqual(topK1, greedy);
  });

  test('a prompt longer than the context fails with one line', () => {
    const r = runCli(['generate', '--model', model.modelPath, '--prompt', 'Once upon a time '.repeat(150)]);
    assert.equal(r.status, 1);
    assertOneLineError(r.stderr, /^octoserve: prompt is \d+ tokens; the model's context is 512$/);
  });
});

describe('octoserve generate: bad input', () => {
  test('an unknown flag is a usage error (exit 2)', () => {
    const r = runCli(['generate', '--modle', 'x']);
    assert.equal(r.status, 2);
    assertOneLineError(r.stderr, /^octoserve generate: Unknown option '--modle'.*--help/);
  });

  test('malformed numbers are usage errors naming the flag', () => {
    for (const [flag, value, pattern] of [
      ['--max-tokens', 'ten', /--max-tokens must be an integer >= 0, got 'ten'/],
      ['--temperature=-1', null, /--temperature must be a number >= 0, got '-1'/],
      ['--temperature', '-1', /Option '--temperature' argument is ambiguous/],
      ['--top-p', '1.5', /--top-p must be a number .*<= 1, got '1.5'/],
      ['--spin-us', 'fast', /--spin-us takes 'auto' or whole microseconds 0\.\.100000, got 'fast'/],
    ] as const) {
      const r = runCli(['generate', '--model', 'unused', flag, ...(value === null ? [] : [value])]);
      assert.equal(r.status, 2, `${flag} ${value}`);
      assertOneLineError(r.stderr, pattern);
    }
  });

  test('a missing model and a model without a tokenizer fail with one line (exit 1)', () => {
    const missing = runCli(['generate', '--model', join(dir, 'nope.bin'), '--prompt', 'hi']);
    assert.equal(missing.status, 1);
    assertOneLineError(missing.stderr, /^octoserve: no model at .*nope\.bin$/);
    const out = join(dir, 'lonely', 'model.bin');
    assert.equal(runCli(['synth', '--shape', 'tiny', '--format', 'llama2c', '--out', out]).status, 0);
    rmSync(join(dir, 'lonely', 'tokenizer.bin'));
    const r = runCli(['generate', '--model', out, '--prompt', 'hi']);
    assert.equal(r.status, 1);
    assertOneLineError(r.stderr, /no tokenizer for model .*model\.bin: looked for tokenizer\.bin, tok512\.bin, tokenizer\.json in .*; pass --tokenizer FILE/);
  });

  test('--help explains every option and exits 0', () => {
    const r = runCli(['generate', '--help']);
    assert.equal(r.status, 0);
    for (const flag of ['--model', '--prompt', '--max-tokens', '--temperature', '--top-k', '--top-p', '--seed', '--tokenizer', '--json']) {
      assert.match(r.stdout, new RegExp(`^  ${flag}\\b`, 'm'), flag);
    }
  });
});
