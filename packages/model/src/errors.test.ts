// Bad input gets a ModelError whose message names the file, tensor or numbers at fault.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { openHf, writeHf } from './checkpoint-hf.js';
import { openLlama2c, writeLlama2c } from './checkpoint-llama2c.js';
import { ReferenceEngine } from './engine.js';
import { ModelError } from './errors.js';
import { generate } from './generate.js';
import { findTokenizer, openCheckpoint, openModel } from './model-source.js';
import { openSafetensors } from './safetensors.js';
import { Sampler } from './sampling.js';
import { SynthCheckpoint } from './synth.js';
import { findTestModel } from '@octoserve/testkit';

const dir = mkdtempSync(join(tmpdir(), 'octoserve-errors-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Asserts `fn` throws a ModelError whose message matches every pattern. */
function throwsModelError(fn: () => unknown, ...patterns: RegExp[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ModelError, `expected a ModelError, got ${String(err)}`);
    for (const p of patterns) assert.match(err.message, p);
    return true;
  });
}

function safetensorsBytes(header: string, dataBytes: number): Uint8Array {
  const json = Buffer.from(header);
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

describe('llama2.c checkpoints', () => {
  test('a truncated .bin names the expected and the actual size', async () => {
    const path = join(dir, 'truncated.bin');
    copyFileSync((await findTestModel()).modelPath, path);
    truncateSync(path, 1_000_000);
    throwsModelError(() => openLlama2c(path), /truncated\.bin/, /truncated llama2\.c checkpoint/, /dim 64, hidden_dim 172, n_layers 5/,
      /implies 1056540 bytes, the file has 1000000/);
  });

  test('a file shorter than the header, and one whose header is not a model', () => {
    const short = join(dir, 'short.bin');
    writeFileSync(short, new Uint8Array(10));
    throwsModelError(() => openLlama2c(short), /short\.bin/, /10 bytes, shorter than its 28-byte header/);
    const text = join(dir, 'text.bin');
    writeFileSync(text, 'this is not a checkpoint at all, just some text');
    throwsModelError(() => openLlama2c(text), /text\.bin: not a llama2\.c checkpoint, its header reads dim \d+/);
  });

  test('a version 2 (int8) file is refused by name', () => {
    const path = join(dir, 'v2.bin');
    const header = new Uint8Array(256);
    const view = new DataView(header.buffer);
    view.setUint32(0, 0x616b3432, true);
    view.setInt32(4, 2, true);
    writeFileSync(path, header);
    throwsModelError(() => openLlama2c(path), /version 2 \(int8 Q8_0\) checkpoints are not supported/);
  });
});

describe('safetensors', () => {
  const write = (name: string, bytes: Uint8Array): string => {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    return path;
  };

  test('a file too short for the header length', () => {
    throwsModelError(() => openSafetensors(write('tiny.safetensors', new Uint8Array(4))), /tiny\.safetensors/, /4 bytes, too short/);
  });

  test('a header length beyond the end of the file', () => {
    const bytes = safetensorsBytes('{}', 0);
    new DataView(bytes.buffer).setBigUint64(0, 5000n, true);
    throwsModelError(() => openSafetensors(write('long.safetensors', bytes)), /corrupt safetensors header: it claims 5000 bytes of JSON but the file has 2/);
  });

  test('a header that is not JSON', () => {
    throwsModelError(() => openSafetensors(write('json.safetensors', safetensorsBytes('{"a": [1, 2', 0))), /corrupt safetensors header: not valid JSON/);
  });

  test('an unknown dtype names the tensor and the dtype', () => {
    const header = '{"model.norm.weight":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}';
    throwsModelError(() => openSafetensors(write('dtype.safetensors', safetensorsBytes(header, 2))),
      /tensor model\.norm\.weight: unknown dtype 'F8_E4M3' \(supported: F32, F16, BF16\)/);
  });

  test('data offsets past the end of the file, or not matching the shape', () => {
    const past = '{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}';
    throwsModelError(() => openSafetensors(write('past.safetensors', safetensorsBytes(past, 8))), /tensor w: truncated file/);
    const wrong = '{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,8]}}';
    throwsModelError(() => openSafetensors(write('wrong.safetensors', safetensorsBytes(wrong, 8))), /hold 8 bytes but F32 \[4\] needs 16/);
  });
});

describe('HF directories', () => {
  const hfDir = join(dir, 'hf');
  writeHf(hfDir, SynthCheckpoint.ofShape('tiny', 1));
  const config = JSON.parse(readFileSync(join(hfDir, 'config.json'), 'utf8')) as Record<string, unknown>;
  const withConfig = (name: string, changes: Record<string, unknown>): string => {
    const d = join(dir, name);
    mkdirSync(d);
    copyFileSync(join(hfDir, 'model.safetensors'), join(d, 'model.safetensors'));
    writeFileSync(join(d, 'config.json'), JSON.stringify({ ...config, ...changes }));
    return d;
  };

  test('hidden_size disagreeing with the tensors names the tensor and both shapes', () => {
    throwsModelError(() => openHf(withConfig('bad-hidden', { hidden_size: 48 })),
      /model\.embed_tokens\.weight/, /tensor tok_embeddings has shape \[512, 64\] but .*bad-hidden\/config\.json implies \[512, 48\] \(dim 48, /);
  });

  test('intermediate_size disagreeing names the FFN tensor', () => {
    throwsModelError(() => openHf(withConfig('bad-ffn', { intermediate_size: 100 })),
      /model\.layers\.0\.mlp\.gate_proj\.weight/, /has shape \[172, 64\] but .*config\.json implies \[100, 64\]/);
  });

  test('an untied config without lm_head.weight', () => {
    throwsModelError(() => openHf(withConfig('untied', { tie_word_embeddings: false })), /missing tensor lm_head\.weight/);
  });

  test('an unsupported rope_scaling type and a missing field', () => {
    throwsModelError(() => openHf(withConfig('yarn', { rope_scaling: { rope_type: 'yarn', factor: 4 } })), /rope_scaling type "yarn" is not supported/);
    throwsModelError(() => openHf(withConfig('nolayers', { num_hidden_layers: undefined })), /config\.json: missing num_hidden_layers/);
  });
});

describe('model paths and prompts', () => {
  test('a missing tokenizer says where it looked and about --tokenizer', async () => {
    const d = join(dir, 'no-tokenizer');
    mkdirSync(d);
    writeLlama2c(join(d, 'model.bin'), SynthCheckpoint.ofShape('tiny', 0));
    const ckpt = openCheckpoint(d);
    throwsModelError(() => findTokenizer(ckpt), /no tokenizer for model .*model\.bin/, /looked for tokenizer\.bin, tok512\.bin, tokenizer\.json in .*no-tokenizer/, /pass --tokenizer FILE/);
    ckpt.close();
    await assert.rejects(openModel({ model: d }), /pass --tokenizer FILE/);
    await assert.rejects(openModel({ model: d, tokenizer: join(d, 'nope.bin') }), /no tokenizer at .*nope\.bin \(from --tokenizer\)/);
  });

  test('a missing model path, and a directory without a model', () => {
    throwsModelError(() => openCheckpoint(join(dir, 'nothing-here')), /no model at .*nothing-here/);
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    throwsModelError(() => openCheckpoint(empty), /holds neither an HF model \(config\.json\) nor a llama2\.c \.bin checkpoint/);
  });

  test('a prompt longer than the context', async () => {
    const engine = ReferenceEngine.fromCheckpoint(SynthCheckpoint.ofShape('tiny', 0));
    const prompt = Array.from({ length: 300 }, (_, i) => 3 + (i % 200));
    await assert.rejects(
      generate(engine, prompt, { maxTokens: 10, sampler: new Sampler(512, { temperature: 0 }), stopIds: [] }),
      (err: unknown) => err instanceof ModelError && err.message === "prompt is 300 tokens; the model's context is 256",
    );
  });

  test('a token id outside the vocabulary and a position outside the context', () => {
    const engine = ReferenceEngine.fromCheckpoint(SynthCheckpoint.ofShape('tiny', 0));
    throwsModelError(() => engine.step([512], [0]), /token id 512 is outside the vocabulary of 512/);
    throwsModelError(() => engine.step([5], [256]), /position 256 is outside the context of 256/);
  });
});
