// One model, every format: llama2.c legacy and version 1, HF single-file and sharded, F16/BF16,
// must give the same tensors (up to the dtype's rounding) and the same greedy tokens.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { Checkpoint } from './checkpoint.js';
import { openHf, writeHf } from './checkpoint-hf.js';
import { openLlama2c, writeLlama2c } from './checkpoint-llama2c.js';
import { f32ToBf16Bits, f32ToF16Bits, f16ToF32, bf16ToF32 } from './dtype.js';
import { ReferenceEngine } from './engine.js';
import { generate } from './generate.js';
import { Sampler } from './sampling.js';
import { SynthCheckpoint, type SynthShape } from './synth.js';
import { findTestModel, loadGoldenCases } from '@octoserve/testkit';

const dir = mkdtempSync(join(tmpdir(), 'octoserve-formats-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function greedy(ckpt: Checkpoint, prompt: number[], maxTokens: number): Promise<number[]> {
  const engine = ReferenceEngine.fromCheckpoint(ckpt);
  const result = await generate(engine, prompt, {
    maxTokens, sampler: new Sampler(ckpt.config.vocabSize, { temperature: 0 }), stopIds: [],
  });
  return result.tokenIds;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

/** The logits of `prompt`'s last position. */
function lastLogits(ckpt: Checkpoint, prompt: number[]): Float32Array {
  return ReferenceEngine.fromCheckpoint(ckpt).step(prompt, prompt.map((_, i) => i)).slice();
}

for (const shape of ['tiny', 'gqa'] as SynthShape[]) {
  describe(`synthetic ${shape}: llama2.c and HF give the same model`, () => {
    const synth = SynthCheckpoint.ofShape(shape, 7);
    const bin = join(dir, `${shape}.bin`);
    const hfDir = join(dir, `${shape}-hf`);
    writeLlama2c(bin, synth);
    writeHf(hfDir, synth);
    const prompt = [1, 300, 301, 302];

    test('identical greedy tokens and logits from the .bin, the HF directory and the generator', async () => {
      const fromBin = openLlama2c(bin);
      const fromHf = openHf(hfDir);
      assert.equal(fromBin.config.sharedClassifier, shape === 'tiny');
      assert.equal(fromHf.config.ropeLayout, 'half');
      assert.equal(fromBin.config.ropeLayout, 'interleaved');
      const want = await greedy(synth, prompt, 60);
      assert.equal(want.length, 60);
      assert.deepEqual(await greedy(fromBin, prompt, 60), want);
      assert.deepEqual(await greedy(fromHf, prompt, 60), want);
      assert.ok(maxAbsDiff(lastLogits(fromBin, prompt), lastLogits(fromHf, prompt)) < 1e-4);
      fromBin.close();
      fromHf.close();
    });

    test('the HF wq rows are the permuted llama2.c rows, and the rest is byte-identical', () => {
      const fromBin = openLlama2c(bin);
      const fromHf = openHf(hfDir);
      assert.deepEqual(fromHf.read('layers.1.wv'), fromBin.read('layers.1.wv'));
      assert.deepEqual(fromHf.read('output'), fromBin.read('output'));
      const { headDim, dim } = fromBin.config;
      const interleaved = fromBin.read('layers.0.wq');
      const half = fromHf.read('layers.0.wq');
      // head 0: HF row 1 is llama2.c row 2, HF row headDim/2 is llama2.c row 1
      assert.deepEqual(half.subarray(dim, 2 * dim), interleaved.subarray(2 * dim, 3 * dim));
      assert.deepEqual(half.subarray((headDim / 2) * dim, (headDim / 2 + 1) * dim), interleaved.subarray(dim, 2 * dim));
      fromBin.close();
      fromHf.close();
    });
  });
}

describe('stories260K converted to HF', () => {
  test('gives the same greedy tokens as the .bin for every golden case', async () => {
    const model = await findTestModel();
    const cases = loadGoldenCases(model);
    const src = openLlama2c(model.modelPath);
    const hfDir = join(dir, 'stories260K-hf');
    writeHf(hfDir, src);
    const hf = openHf(hfDir);
    assert.equal(hf.config.sharedClassifier, true);
    const engine = ReferenceEngine.fromCheckpoint(hf);
    for (const c of cases) {
      const result = await generate(engine, c.prompt_token_ids, {
        maxTokens: 257 - c.prompt_token_ids.length,
        sampler: new Sampler(hf.config.vocabSize, { temperature: 0 }),
        stopIds: [1, 2],
      });
      assert.deepEqual(result.tokenIds, c.generated_token_ids, c.prompt);
    }
    src.close();
    hf.close();
  });
});

describe('other layouts of the same weights', () => {
  const synth = SynthCheckpoint.ofShape('tiny', 3);

  test('llama2.c version 1 (magic "ak42") reads the same tensors as the legacy layout', () => {
    for (const source of [synth, SynthCheckpoint.ofShape('gqa', 3)]) {
      const v1 = join(dir, 'v1.bin');
      writeLlama2c(v1, source, { version: 1 });
      const ckpt = openLlama2c(v1);
      assert.equal(ckpt.config.sharedClassifier, source.config.sharedClassifier);
      assert.equal(ckpt.config.nKvHeads, source.config.nKvHeads);
      for (const name of ckpt.tensorNames()) assert.deepEqual(ckpt.read(name), source.read(name), name);
      ckpt.close();
    }
  });

  test('sharded HF safetensors read the same tensors, through model.safetensors.index.json', () => {
    const sharded = join(dir, 'tiny-sharded');
    writeHf(sharded, synth, { shardBytes: 100_000 });
    const files = readdirSync(sharded).filter((f) => f.endsWith('.safetensors'));
    assert.ok(files.length > 3, `expected several shards, got ${files.join(', ')}`);
    const ckpt = openHf(sharded);
    const single = join(dir, 'tiny-single');
    writeHf(single, synth);
    const ref = openHf(single);
    for (const name of ckpt.tensorNames()) assert.deepEqual(ckpt.read(name), ref.read(name), name);
    ckpt.close();
    ref.close();
  });

  for (const dtype of ['F16', 'BF16'] as const) {
    test(`HF ${dtype} safetensors read back as the rounded float32 values`, () => {
      const out = join(dir, `tiny-${dtype}`);
      writeHf(out, synth, { dtype });
      const ckpt = openHf(out);
      const ref = openHf(join(dir, 'tiny-single'));
      for (const name of ['tok_embeddings', 'layers.0.attention_norm', 'layers.2.w2']) {
        const exact = ref.read(name);
        const bits = Uint16Array.from(exact, dtype === 'F16' ? f32ToF16Bits : f32ToBf16Bits);
        const rounded = new Float32Array(exact.length);
        (dtype === 'F16' ? f16ToF32 : bf16ToF32)(bits, rounded);
        assert.deepEqual(ckpt.read(name), rounded, name);
        assert.equal(ckpt.tensorInfo(name).dtype, dtype);
      }
      ckpt.close();
      ref.close();
    });
  }

  test('readBlock returns the rows and columns of read, from .bin, F32 and BF16 files', () => {
    const bin = join(dir, 'tiny.bin');
    const sources = [openLlama2c(bin), openHf(join(dir, 'tiny-single')), openHf(join(dir, 'tiny-BF16')), synth];
    for (const ckpt of sources) {
      const full = ckpt.read('layers.1.w2'); // [64, 172]
      const cols = 172;
      const block = ckpt.readBlock('layers.1.w2', 10, 20, 30, 50);
      assert.equal(block.length, 10 * 20);
      for (let r = 0; r < 10; r++) {
        assert.deepEqual(block.subarray(r * 20, r * 20 + 20), full.subarray((10 + r) * cols + 30, (10 + r) * cols + 50), `${ckpt.format} row ${r}`);
      }
      assert.deepEqual(ckpt.readBlock('norm', 0, 1, 8, 16), ckpt.read('norm').subarray(8, 16));
      assert.throws(() => ckpt.readBlock('layers.1.w2', 0, 65, 0, 10), /outside its shape \[64, 172\]/);
    }
    for (const ckpt of sources) ckpt.close();
  });
});
