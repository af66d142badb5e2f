// Q8_0 and Q4_0: hand-computed blocks, and block reads of any row/column range equal to the same
// range of the whole dequantized tensor.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { openGguf } from './checkpoint-gguf.js';
import { resolveConfig } from './config.js';
import { writeGguf } from './gguf-checkpoint-write.js';
import { dequantizeGgmlRow, quantizeGgmlRow } from './gguf-quant.js';
import { readGgufHeader } from './gguf-read.js';
import { SynthCheckpoint } from './synth.js';
import { OpenFile } from './tensor-file.js';

const dir = mkdtempSync(join(tmpdir(), 'octoserve-gguf-q-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// dim 96, hidden 128: every matrix row is whole 32-element blocks, so every matrix is quantized
const synth = new SynthCheckpoint(resolveConfig({ dim: 96, hiddenDim: 128, nLayers: 1, nHeads: 3, nKvHeads: 1, vocabSize: 64, maxSeqLen: 32, sharedClassifier: false }), 3);

describe('dequantizing hand-made blocks', () => {
  test('Q8_0: element j = int8 q[j] * d', () => {
    const block = new Uint8Array(34);
    block[0] = 0x00; block[1] = 0x38; // f16 0x3800 = 0.5
    const codes = [1, -1, 127, -127, 0, 64, -128, 3];
    codes.forEach((q, j) => { block[2 + j] = q & 0xff; });
    const out = new Float32Array(32);
    dequantizeGgmlRow('Q8_0', block, 0, 0, 32, out, 0);
    assert.deepEqual(Array.from(out.subarray(0, 8)), [0.5, -0.5, 63.5, -63.5, 0, 32, -64, 1.5]);
    assert.deepEqual(Array.from(out.subarray(8)), new Array(24).fill(0));
  });

  test('Q4_0: low nibbles are elements 0..15, high nibbles 16..31, value (q - 8) * d', () => {
    const block = new Uint8Array(18);
    block[0] = 0x00; block[1] = 0x34; // f16 0x3400 = 0.25
    block.fill(0x88, 2); // q = 8 everywhere: zero
    block[2] = 0x1f; // element 0: 15 -> 1.75; element 16: 1 -> -1.75
    block[3] = 0x80; // element 1: 0 -> -2; element 17: 8 -> 0
    block[17] = 0xc9; // element 15: 9 -> 0.25; element 31: 12 -> 1
    const out = new Float32Array(32);
    dequantizeGgmlRow('Q4_0', block, 0, 0, 32, out, 0);
    const expected = new Array(32).fill(0);
    expected[0] = 1.75; expected[16] = -1.75; expected[1] = -2; expected[15] = 0.25; expected[31] = 1;
    assert.deepEqual(Array.from(out), expected);
    // a column range inside the block
    const part = new Float32Array(4);
    dequantizeGgmlRow('Q4_0', block, 0, 14, 18, part, 0);
    assert.deepEqual(Array.from(part), [0, 0.25, -1.75, 0]);
  });

  test('quantizeGgmlRow: every value comes back within half a step of its block', () => {
    const row = Float32Array.from({ length: 64 }, (_, i) => (i - 32) / 4); // steps of 0.25, |max| 8
    for (const type of ['Q8_0', 'Q4_0'] as const) {
      const out = new Float32Array(64);
      const bytes = quantizeGgmlRow(type, row);
      dequantizeGgmlRow(type, bytes, 0, 0, 64, out, 0);
      const bits = type === 'Q8_0' ? 127 : 8;
      for (let i = 0; i < 64; i++) {
        const block = Math.floor(i / 32);
        const amax = Math.max(...row.subarray(block * 32, block * 32 + 32).map(Math.abs));
        assert.ok(Math.abs(out[i]! - row[i]!) <= amax / bits / 2 + 1e-3, `${type} element ${i}: ${out[i]} vs ${row[i]}`);
      }
      if (type === 'Q4_0') assert.equal(out[0], -8, 'Q4_0: the largest magnitude is code -8 with d = 1, exact');
    }
    assert.throws(() => quantizeGgmlRow('Q8_0', new Float32Array(40)), /whole blocks of 32/);
  });
});

describe('Q8_0 / Q4_0 GGUF tensors', () => {
  for (const type of ['Q8_0', 'Q4_0'] as const) {
    const path = join(dir, `synth-${type}.gguf`);
    writeGguf(path, synth, { type });

    test(`${type}: the first block of a tensor equals its bytes decoded by hand`, () => {
      const file = new OpenFile(path);
      const t = readGgufHeader(file).tensors.get('blk.0.ffn_down.weight')!;
      assert.deepEqual(t.dims, [128, 96]);
      const raw = new Uint8Array(type === 'Q8_0' ? 34 : 18);
      file.readExactly(raw, t.offset, 'first block');
      file.close();
      const halfBits = raw[0]! | (raw[1]! << 8);
      const exp = (halfBits >> 10) & 0x1f;
      const d = (halfBits & 0x8000 ? -1 : 1) * (exp === 0 ? (halfBits & 0x3ff) * 2 ** -24 : (1 + (halfBits & 0x3ff) / 1024) * 2 ** (exp - 15));
      const expected = Array.from({ length: 32 }, (_, j) => {
        const q = type === 'Q8_0' ? ((raw[2 + j]! << 24) >> 24) : ((j < 16 ? raw[2 + j]! & 15 : raw[2 + j - 16]! >> 4) - 8);
        return Math.fround(q * d);
      });
      const g = openGguf(path);
      assert.deepEqual(Array.from(g.readBlock('layers.0.w2', 0, 1, 0, 32)), expected);
      g.close();
    });

    test(`${type}: readBlock of any range equals that range of read()`, () => {
      const g = openGguf(path);
      assert.equal(g.tensorInfo('output').ggmlType, type);
      for (const name of ['layers.0.wq', 'layers.0.wk', 'layers.0.w2', 'output', 'tok_embeddings']) {
        const [rows, cols] = g.tensorInfo(name).shape as [number, number];
        const full = g.read(name);
        // close to the source: within a quantization step of each row's largest value
        const exact = synth.read(name);
        for (let i = 0; i < full.length; i++) assert.ok(Math.abs(full[i]! - exact[i]!) <= 0.2, `${name}[${i}]`);
        const ranges: [number, number, number, number][] = [
          [0, rows, 0, cols], [1, 2, 5, 27], [0, rows, 30, 35], [3, 7, 31, 33], [rows - 1, rows, cols - 1, cols],
          [2, 5, 0, 32], [0, 3, 33, cols], [4, 4, 0, 10], [0, rows, 17, 17],
        ];
        for (const [r0, r1, c0, c1] of ranges) {
          const block = g.readBlock(name, r0, r1, c0, c1);
          assert.equal(block.length, (r1 - r0) * (c1 - c0));
          for (let r = r0; r < r1; r++) {
            assert.deepEqual(block.subarray((r - r0) * (c1 - c0), (r - r0 + 1) * (c1 - c0)), full.subarray(r * cols + c0, r * cols + c1), `${name} [${r0},${r1})x[${c0},${c1}) row ${r}`);
          }
        }
        assert.throws(() => g.readBlock(name, 0, rows + 1, 0, 1), /outside its shape/);
      }
      g.close();
    });
  }
});

describe('Q8_0 / Q4_0 blocks as stored (readQuantizedBlock, for the workers\' MatMulNBits)', () => {
  for (const type of ['Q8_0', 'Q4_0'] as const) {
    const path = join(dir, `synth-nbits-${type}.gguf`);
    writeGguf(path, synth, { type });
    const bits = type === 'Q8_0' ? 8 : 4;

    test(`${type}: (code - ${1 << (bits - 1)}) x scale of every block is read()'s float, bit for bit`, () => {
      const g = openGguf(path);
      assert.equal(g.quantizedBits('layers.0.w2'), bits);
      assert.equal(g.quantizedBits('layers.0.attention_norm'), undefined, 'vectors stay F32');
      for (const name of ['layers.0.wq', 'layers.0.w2', 'output']) {
        const [rows, cols] = g.tensorInfo(name).shape as [number, number];
        const full = g.read(name);
        for (const [r0, r1, c0, c1] of [[0, rows, 0, cols], [2, 5, 32, 64], [rows - 1, rows, 64, cols]] as const) {
          const q = g.readQuantizedBlock(name, r0, r1, c0, c1);
          assert.deepEqual([q.bits, q.n, q.k, q.blocks], [bits, r1 - r0, c1 - c0, (c1 - c0) / 32]);
          const blob = (32 * bits) / 8;
          for (let r = 0; r < q.n; r++) {
            for (let c = 0; c < q.k; c++) {
              const b = Math.floor(c / 32);
              const at = (r * q.blocks + b) * blob;
              const j = c % 32;
              const code = bits === 8 ? q.packed[at + j]! : (q.packed[at + (j >> 1)]! >> ((j & 1) * 4)) & 15;
              const w = Math.fround((code - (1 << (bits - 1))) * q.scales[r * q.blocks + b]!);
              assert.equal(w, full[(r0 + r) * cols + c0 + c], `${name} [${r0 + r}, ${c0 + c}]`);
            }
          }
        }
        assert.throws(() => g.readQuantizedBlock(name, 0, 1, 5, 32), /off its 32-column blocks/);
      }
      assert.throws(() => g.readQuantizedBlock('layers.0.ffn_norm', 0, 1, 0, 32), /is F32, not block-quantized/);
      g.close();
    });
  }
});
