// Synthetic models and tokenizers: seeded, non-degenerate, readable by the real loaders.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { writeLlama2c } from './checkpoint-llama2c.js';
import { ReferenceEngine } from './engine.js';
import { generate } from './generate.js';
import { Sampler } from './sampling.js';
import { SynthCheckpoint, synthConfig } from './synth.js';
import { synthTokenizerBytes, writeSynthTokenizer } from './synth-tokenizer.js';
import { loadTokenizer } from './tokenizer-load.js';

const dir = mkdtempSync(join(tmpdir(), 'octoserve-synth-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('the named shapes have the sizes they are named for', () => {
  const s15 = synthConfig('stories15m');
  assert.deepEqual([s15.dim, s15.hiddenDim, s15.nLayers, s15.nHeads, s15.nKvHeads, s15.vocabSize, s15.maxSeqLen], [288, 768, 6, 6, 6, 32000, 256]);
  const s110 = synthConfig('stories110m');
  assert.deepEqual([s110.dim, s110.hiddenDim, s110.nLayers, s110.nHeads, s110.vocabSize, s110.maxSeqLen], [768, 2048, 12, 12, 32000, 1024]);
  const gqa = synthConfig('gqa');
  assert.ok(gqa.nKvHeads < gqa.nHeads);
  assert.equal(gqa.kvMul, 4);
});

test('the same seed writes the same bytes, another seed other bytes', () => {
  for (const [name, seed] of [['a', 5], ['b', 5], ['c', 6]] as const) writeLlama2c(join(dir, `${name}.bin`), SynthCheckpoint.ofShape('tiny', seed));
  assert.ok(readFileSync(join(dir, 'a.bin')).equals(readFileSync(join(dir, 'b.bin'))));
  assert.ok(!readFileSync(join(dir, 'a.bin')).equals(readFileSync(join(dir, 'c.bin'))));
});

test('random weights keep activations finite and sampling spread over the vocabulary', async () => {
  const ckpt = SynthCheckpoint.ofShape('gqa', 0);
  const engine = ReferenceEngine.fromCheckpoint(ckpt);
  const result = await generate(engine, [1, 300], { maxTokens: 100, sampler: new Sampler(512, { temperature: 1, seed: 1 }), stopIds: [] });
  assert.ok(new Set(result.tokenIds).size > 40, `only ${new Set(result.tokenIds).size} distinct tokens`);
  const logits = engine.step([1], [0]);
  assert.ok(logits.every(Number.isFinite));
  const spread = Math.max(...logits) - Math.min(...logits);
  assert.ok(spread > 1 && spread < 100, `logit spread ${spread}`);
});

test('the synthesized tokenizer loads, round-trips text, and has the standard special ids', () => {
  const path = join(dir, 'tokenizer.bin');
  writeSynthTokenizer(path, 512);
  const tok = loadTokenizer(path, 512);
  assert.equal(tok.vocabSize, 512);
  const ids = tok.encode('Once upon a time, the little dog went to the park.', { bos: true });
  assert.equal(ids[0], 1);
  assert.ok(ids.length < 30, `merges should shorten the text: ${ids.length} tokens`);
  assert.equal(tok.decode(ids.slice(1), ids[0]), 'Once upon a time, the little dog went to the park.');
  assert.equal(synthTokenizerBytes(32000).length > synthTokenizerBytes(512).length, true);
  assert.equal(loadTokenizer(path, 512).decode([3 + 0xc3, 3 + 0xa9], 1), 'é'); // byte fallback pieces
});
