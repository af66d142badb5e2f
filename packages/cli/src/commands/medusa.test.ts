// `octoserve medusa train` and `octoserve generate --medusa` end to end, through the real binary.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadMedusaHeads } from '@octoserve/medusa';
import { findTestModel, loadGoldenCases, type GoldenCase, type TestModel, runCli } from '@octoserve/testkit';

const dir = mkdtempSync(join(tmpdir(), 'octoserve-cli-medusa-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface MedusaJson {
  token_ids: number[];
  finish_reason: string;
  stats: { tokens: number; steps: number; tokens_per_step: number; accepted_per_depth: number[]; drafts: number };
}

describe('octoserve medusa train, then generate --medusa, on stories260K', () => {
  let model: TestModel;
  let cases: GoldenCase[];
  const heads = join(dir, 'heads');
  before(async () => {
    model = await findTestModel();
    cases = loadGoldenCases(model);
  });

  test('--help explains every option and which acceptance is lossless', () => {
    const top = runCli(['medusa', '--help']);
    assert.equal(top.status, 0);
    assert.match(top.stdout, /train +train Medusa heads/);
    const r = runCli(['medusa', 'train', '--help']);
    assert.equal(r.status, 0);
    for (const flag of ['--model', '--out', '--heads', '--layers', '--tokens', '--epochs', '--lr', '--batch', '--seed']) assert.ok(r.stdout.includes(flag), flag);
    assert.match(r.stdout, /Greedy acceptance is lossless/);
    assert.match(runCli(['generate', '--help']).stdout, /--acceptance A +greedy .* is lossless/);
  });

  test('train writes FasterDecoding heads that load, and prints held-out accuracy per head', () => {
    const r = runCli(['medusa', 'train', '--model', model.modelPath, '--out', heads, '--heads', '3', '--tokens', '3000', '--seed', '2']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^trained 3 Medusa heads x 1 layer for .*stories260K\.bin in [\d.]+ s/);
    for (let k = 0; k < 3; k++) assert.match(r.stdout, new RegExp(`\\n +${k} +t\\+${k + 2} +[\\d.]+% +[\\d.]+%\\n`));
    assert.match(r.stderr, /100% training \(steps\)/, 'progress on stderr');
    assert.ok(existsSync(join(heads, 'medusa_lm_head.safetensors')));
    const config = JSON.parse(readFileSync(join(heads, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(config.medusa_num_heads, 3);
    assert.equal(config.medusa_num_layers, 1);
    const loaded = loadMedusaHeads(heads, { baseVocab: 512, baseDim: 64, log: (line) => assert.fail(line) });
    assert.equal(loaded.numHeads, 3);
    assert.equal(loaded.output[2]!.length, 512 * 64);
  });

  test('greedy with the trained heads prints the golden tokens, with Medusa stats', () => {
    const c = cases.find((g) => g.prompt === 'A boy named')!;
    for (const choices of ['chain-3', '[[0],[1],[0,0],[0,1],[1,0],[0,0,0]]']) {
      const r = runCli(['generate', '--model', model.modelPath, '--prompt', c.prompt, '--max-tokens', '256',
        '--medusa', heads, '--medusa-choices', choices, '--json']);
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout) as MedusaJson;
      assert.deepEqual(out.token_ids, c.generated_token_ids, choices);
      assert.equal(out.finish_reason, 'stop');
      assert.equal(out.stats.accepted_per_depth.length, 3);
      assert.ok(out.stats.steps > 0 && out.stats.steps < out.stats.tokens, `${out.stats.steps} steps for ${out.stats.tokens} tokens`);
      assert.ok(out.stats.tokens_per_step > 1);
      assert.ok(out.stats.drafts >= out.stats.steps * 3);
    }
  });

  test('typical acceptance samples reproducibly from --seed', () => {
    const args = ['generate', '--model', model.modelPath, '--prompt', 'The sun was', '--max-tokens', '40', '--medusa', heads, '--temperature', '0.7', '--json'];
    const ids = (seed: string): number[] => {
      const r = runCli([...args, '--seed', seed]);
      assert.equal(r.status, 0, r.stderr);
      return (JSON.parse(r.stdout) as MedusaJson).token_ids;
    };
    assert.deepEqual(ids('5'), ids('5'));
    assert.notDeepEqual(ids('5'), ids('6'));
    const text = runCli([...args.filter((a) => a !== '--json'), '--seed', '5']);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /^The sun was/);
    assert.match(text.stderr, /tokens_per_step [\d.]+, accepted_per_depth [\d.]+\/[\d.]+\/[\d.]+, drafts \d+/);
  });

  test('typical --medusa on a 2-worker cluster: the same seed gives the same tokens', () => {
    const args = ['generate', '--model', model.modelPath, '--prompt', 'The sun was', '--max-tokens', '40', '--medusa', heads,
      '--tp', '2', '--temperature', '0.7', '--seed', '9', '--json'];
    const [a, b] = [runCli(args), runCli(args)];
    assert.equal(a.status, 0, a.stderr);
    const [ja, jb] = [a, b].map((r) => JSON.parse(r.stdout) as { token_ids: number[]; stats: { tokens_per_step: number } });
    assert.deepEqual(jb?.token_ids, ja?.token_ids);
    assert.ok((ja?.stats.tokens_per_step ?? 0) > 1);
  });

  test('usage errors: greedy with a temperature, options without --medusa, a missing directory', () => {
    const base = ['generate', '--model', model.modelPath, '--prompt', 'Hi'];
    const greedy = runCli([...base, '--medusa', heads, '--acceptance', 'greedy', '--temperature', '0.5']);
    assert.equal(greedy.status, 2);
    assert.match(greedy.stderr, /--acceptance greedy needs --temperature 0/);
    const orphan = runCli([...base, '--medusa-choices', 'chain-2']);
    assert.equal(orphan.status, 2);
    assert.match(orphan.stderr, /need --medusa DIR/);
    const missing = runCli([...base, '--medusa', join(dir, 'nope')]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /^octoserve: no Medusa heads at .*nope\n$/);
    const deep = runCli([...base, '--medusa', heads, '--medusa-choices', 'chain-5']);
    assert.equal(deep.status, 1);
    assert.match(deep.stderr, /choice \[0,0,0,0\] has depth 4, but the model has 3 Medusa heads/);
  });
});
