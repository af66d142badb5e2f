// A GGUF written by llama.cpp's own Python package (fixtures/gguf/make-tiny-mixed.py): every type
// octoserve reads in one file, each tensor's float32 values equal to what that package dequantizes
// them to, its metadata and its SentencePiece vocabulary read as written.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { ggufTensorName, openGguf } from './checkpoint-gguf.js';
import { openModel } from './model-source.js';

const FIXTURE = fileURLToPath(new URL('../src/fixtures/gguf/tiny-mixed.gguf', import.meta.url));
const expected = JSON.parse(readFileSync(fileURLToPath(new URL('../src/fixtures/gguf/tiny-mixed.expected.json', import.meta.url)), 'utf8')) as
  Record<string, { type: string; sha256: string; first: number[] }>;

test('the config comes from the llama.* metadata', () => {
  const g = openGguf(FIXTURE);
  const c = g.config;
  assert.deepEqual(
    { dim: c.dim, hiddenDim: c.hiddenDim, nLayers: c.nLayers, nHeads: c.nHeads, nKvHeads: c.nKvHeads, headDim: c.headDim, vocabSize: c.vocabSize },
    { dim: 64, hiddenDim: 64, nLayers: 1, nHeads: 2, nKvHeads: 1, headDim: 32, vocabSize: 264 },
  );
  assert.deepEqual(
    { maxSeqLen: c.maxSeqLen, normEps: c.normEps, ropeTheta: c.ropeTheta, ropeLayout: c.ropeLayout, sharedClassifier: c.sharedClassifier, bosId: c.bosId, eosIds: c.eosIds },
    { maxSeqLen: 128, normEps: 1e-6, ropeTheta: 500000, ropeLayout: 'interleaved', sharedClassifier: false, bosId: 1, eosIds: [2] },
  );
  g.close();
});

test('every tensor dequantizes to the values llama.cpp\'s gguf package gives (F32, F16, BF16, Q8_0, Q4_0)', () => {
  const g = openGguf(FIXTURE);
  const seen = new Set<string>();
  for (const name of g.tensorNames()) {
    const want = expected[ggufTensorName(name)];
    assert.ok(want !== undefined, name);
    assert.equal(g.tensorInfo(name).ggmlType, want.type, name);
    seen.add(want.type);
    const values = g.read(name);
    assert.deepEqual(Array.from(values.subarray(0, 4)), want.first, name);
    assert.equal(createHash('sha256').update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength)).digest('hex'), want.sha256, name);
    // a block that starts and ends inside quantization blocks
    const [rows, cols] = g.tensorInfo(name).shape.length === 1 ? [1, values.length] : (g.tensorInfo(name).shape as [number, number]);
    const r0 = Math.min(1, rows - 1);
    const block = g.readBlock(name, r0, rows, 7, cols - 5);
    for (let r = r0; r < rows; r++) {
      assert.deepEqual(block.subarray((r - r0) * (cols - 12), (r - r0 + 1) * (cols - 12)), values.subarray(r * cols + 7, r * cols + cols - 5), `${name} row ${r}`);
    }
  }
  assert.deepEqual([...seen].sort(), ['BF16', 'F16', 'F32', 'Q4_0', 'Q8_0']);
  g.close();
});

test('its vocabulary is the tokenizer: pieces, scores, byte fallback and merges', async () => {
  const { checkpoint, tokenizer, tokenizerPath } = await openModel({ model: FIXTURE });
  assert.equal(tokenizerPath, FIXTURE);
  assert.equal(tokenizer.vocabSize, 264);
  // " hi": the dummy prefix then h, i; "▁h" (-4) and "▁hi" (-5) are the only merges
  assert.deepEqual(tokenizer.encode('hi'), [1, 263]);
  assert.deepEqual(tokenizer.encode('ih'), [1, 259, 261, 260]);
  assert.deepEqual(tokenizer.encode('é', { bos: false }), [259, 0xc3 + 3, 0xa9 + 3]); // no piece: its UTF-8 bytes
  assert.equal(tokenizer.decode([263, 259, 261]), 'hi i');
  assert.equal(tokenizer.decode([259, 0xc3 + 3, 0xa9 + 3]), 'é'); // the space after BOS is dropped
  checkpoint.close();
});
