// stories260K through GGUF: written by writeGguf, read back by openGguf, it is the same model
// (tensors, config, tokenizer) and reproduces llama2.c run.c's greedy goldens.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { findTestModel, loadGoldenCases, type GoldenCase, type TestModel } from '@octoserve/testkit';
import type { Checkpoint } from './checkpoint.js';
import { openGguf } from './checkpoint-gguf.js';
import { openHf, writeHf } from './checkpoint-hf.js';
import { openLlama2c } from './checkpoint-llama2c.js';
import { configParams, resolveConfig } from './config.js';
import { f16ToF32, f32ToF16Bits } from './dtype.js';
import { ReferenceEngine } from './engine.js';
import { generate } from './generate.js';
import { writeGguf } from './gguf-checkpoint-write.js';
import { openModel } from './model-source.js';
import { Sampler } from './sampling.js';
import { loadTokenizer } from './tokenizer-load.js';
import { parseLlama2cTokenizer, type Llama2cTokenizer } from './tokenizer-llama2c.js';

async function greedy(ckpt: Checkpoint, c: GoldenCase): Promise<number[]> {
  const engine = ReferenceEngine.fromCheckpoint(ckpt);
  const sampler = new Sampler(ckpt.config.vocabSize, { temperature: 0 });
  return (await generate(engine, c.prompt_token_ids, { maxTokens: 257 - c.prompt_token_ids.length, sampler, stopIds: [1, 2] })).tokenIds;
}

/** `ckpt` with its config's RoPE layout replaced (the tensors as they are). */
function withLayout(ckpt: Checkpoint, ropeLayout: 'half' | 'interleaved'): Checkpoint {
  const config = resolveConfig(configParams(ckpt.config, { ropeLayout }));
  return { ...ckpt, config, tensorNames: () => ckpt.tensorNames(), tensorInfo: (n) => ckpt.tensorInfo(n), read: (n) => ckpt.read(n),
    readBlock: (n, a, b, c, d) => ckpt.readBlock(n, a, b, c, d), close: () => ckpt.close() };
}

describe('GGUF round trip of stories260K', () => {
  let model: TestModel;
  let cases: GoldenCase[];
  let src: Checkpoint;
  let dir: string;
  let f32Path: string;
  before(async () => {
    model = await findTestModel();
    cases = loadGoldenCases(model);
    src = openLlama2c(model.modelPath);
    dir = mkdtempSync(join(tmpdir(), 'octoserve-gguf-'));
    f32Path = join(dir, 'stories260K-F32.gguf');
    const vocab = parseLlama2cTokenizer(readFileSync(model.tokenizerPath), model.tokenizerPath, src.config.vocabSize);
    writeGguf(f32Path, src, { type: 'F32', vocab });
  });
  after(() => {
    src.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('F32: every tensor equal bit for bit, the config equal', () => {
    const g = openGguf(f32Path);
    assert.equal(g.format, 'gguf');
    assert.deepEqual(g.config, src.config);
    assert.deepEqual(g.tensorNames(), src.tensorNames());
    for (const name of src.tensorNames()) {
      assert.deepEqual(g.tensorInfo(name).shape, src.tensorInfo(name).shape, name);
      assert.deepEqual(new Uint32Array(g.read(name).buffer), new Uint32Array(src.read(name).buffer), name);
    }
    g.close();
  });

  test('F32: the embedded tokenizer encodes and decodes every golden prompt as tok512.bin does', () => {
    const g = openGguf(f32Path);
    const tok = g.tokenizer();
    const ref = loadTokenizer(model.tokenizerPath, 512) as Llama2cTokenizer;
    assert.equal(tok.vocabSize, 512);
    for (const c of cases) {
      assert.deepEqual(tok.encode(c.prompt), c.prompt_token_ids, c.prompt);
      assert.equal(tok.decode(c.generated_token_ids), ref.decode(c.generated_token_ids));
      assert.equal(c.prompt + tok.decode(c.generated_token_ids, c.prompt_token_ids.at(-1)), c.text);
    }
    for (let id = 0; id < 512; id++) assert.equal(tok.score(id), ref.score(id));
    g.close();
  });

  test('F32: the reference engine on the GGUF reproduces every golden case', async () => {
    const g = openGguf(f32Path);
    for (const c of cases) assert.deepEqual(await greedy(g, c), c.generated_token_ids, c.prompt);
    g.close();
  });

  test('openModel on a .gguf uses the tokenizer inside it', async () => {
    const loaded = await openModel({ model: f32Path });
    assert.equal(loaded.checkpoint.format, 'gguf');
    assert.equal(loaded.tokenizerPath, f32Path);
    assert.deepEqual(loaded.tokenizer.encode(cases[0]!.prompt), cases[0]!.prompt_token_ids);
    loaded.checkpoint.close();
  });

  test('RoPE: an HF (rotate-half) source is permuted as llama.cpp permutes it, and still gives the goldens', async () => {
    const hfDir = join(dir, 'hf');
    writeHf(hfDir, src);
    const hf = openHf(hfDir);
    const path = join(dir, 'from-hf.gguf');
    writeGguf(path, hf);
    const g = openGguf(path);
    assert.equal(g.config.ropeLayout, 'interleaved');
    const { nHeads, nKvHeads, headDim, dim } = src.config;
    for (const [t, heads] of [['wq', nHeads], ['wk', nKvHeads]] as const) {
      const name = `layers.3.${t}`;
      // llama.cpp's converter: reshape the HF rows to (heads, 2, headDim/2), swap the last two axes
      const hfRows = hf.read(name);
      const expected = new Float32Array(hfRows.length);
      const half = headDim / 2;
      for (let h = 0; h < heads; h++) {
        for (let i = 0; i < half; i++) {
          for (let p = 0; p < 2; p++) {
            const from = (h * 2 + p) * half + i;
            const to = (h * half + i) * 2 + p;
            expected.set(hfRows.subarray(from * dim, (from + 1) * dim), to * dim);
          }
        }
      }
      assert.deepEqual(g.read(name), expected, `${name}: the converter's permutation`);
      assert.deepEqual(g.read(name), src.read(name), `${name}: llama2.c's rows (already interleaved)`);
    }
    assert.deepEqual(await greedy(g, cases[1]!), cases[1]!.generated_token_ids);
    // the other layout on the same rows does not give the goldens: the test can tell them apart
    assert.notDeepEqual(await greedy(withLayout(g, 'half'), cases[1]!), cases[1]!.generated_token_ids);
    g.close();
    hf.close();
  });

  test('F16: every tensor within f16 rounding of the source', () => {
    const path = join(dir, 'f16.gguf');
    writeGguf(path, src, { type: 'F16' });
    const g = openGguf(path);
    assert.deepEqual(g.config, src.config);
    for (const name of src.tensorNames()) {
      const exact = src.read(name);
      const isMatrix = src.tensorInfo(name).shape.length === 2;
      assert.equal(g.tensorInfo(name).dtype, isMatrix ? 'F16' : 'F32', name);
      const rounded = new Float32Array(exact.length);
      f16ToF32(Uint16Array.from(exact, f32ToF16Bits), rounded);
      assert.deepEqual(g.read(name), isMatrix ? rounded : exact, name);
    }
    const block = g.readBlock('layers.1.w2', 10, 20, 30, 50);
    const full = g.read('layers.1.w2');
    for (let r = 0; r < 10; r++) assert.deepEqual(block.subarray(r * 20, r * 20 + 20), full.subarray((10 + r) * 172 + 30, (10 + r) * 172 + 50));
    g.close();
  });

  test('Q8_0 and Q4_0 files open with the same config and a usable model', async () => {
    for (const type of ['Q8_0', 'Q4_0'] as const) {
      const path = join(dir, `${type}.gguf`);
      writeGguf(path, src, { type });
      const g = openGguf(path);
      assert.deepEqual(g.config, src.config);
      assert.equal(g.tensorInfo('layers.0.wq').ggmlType, type);
      assert.equal(g.tensorInfo('layers.0.w2').ggmlType, 'F32', 'rows of 172 are not whole blocks: kept F32');
      const c = cases[0]!;
      const tokens = await greedy(g, c);
      assert.deepEqual(tokens.slice(0, 8), c.generated_token_ids.slice(0, 8), `${type}: the first tokens survive quantization`);
      g.close();
    }
  });
});
