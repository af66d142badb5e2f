// Block quantization (--weights q8|q4): the packed layout, the error bound, exact dequantization,
// the split-independent blocking of the K-split weights, and the reference engine's load option.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveConfig } from './config.js';
import { ReferenceEngine } from './engine.js';
import {
  QUANT_BLOCK, blockAlignedRange, dequantizeColumns, dequantizeInPlace, kSplitWeights, parseWeightFormat, quantizationHaloSlices, quantizeMatrix, type QuantizedMatrix,
} from './quantize.js';
import { Rng } from './random.js';
import { SynthCheckpoint } from './synth.js';
import { loadWeights } from './weights.js';

function randomMatrix(n: number, k: number, seed: number): Float32Array {
  const rng = new Rng(seed, 'quantize-test');
  return Float32Array.from({ length: n * k }, () => (2 * rng.nextFloat() - 1) * (1 + 3 * rng.nextFloat()));
}

/** The floats a packed matrix stands for, read back from its codes (default zero point 2^(bits-1)). */
function unpack(m: QuantizedMatrix): Float32Array {
  const out = new Float32Array(m.n * m.k);
  const blob = (QUANT_BLOCK * m.bits) / 8;
  const zp = 1 << (m.bits - 1);
  for (let r = 0; r < m.n; r++) {
    for (let c = 0; c < m.k; c++) {
      const b = Math.floor(c / QUANT_BLOCK);
      const i = c % QUANT_BLOCK;
      const byte = m.packed[(r * m.blocks + b) * blob + (m.bits === 8 ? i : i >> 1)]!;
      const code = m.bits === 8 ? byte : (i & 1) === 0 ? byte & 15 : byte >> 4;
      out[r * m.k + c] = (code - zp) * m.scales[r * m.blocks + b]!;
    }
  }
  return out;
}

for (const bits of [8, 4] as const) {
  test(`q${bits}: codes unpack to exactly the dequantized weights, within half a step of the originals (short last block too)`, () => {
    for (const [n, k] of [[7, 64], [5, 45], [3, 8], [4, 33]] as const) {
      const w = randomMatrix(n, k, n * 100 + k);
      const q = quantizeMatrix(w, n, k, bits);
      assert.equal(q.blocks, Math.ceil(k / QUANT_BLOCK));
      assert.equal(q.packed.length, n * q.blocks * (QUANT_BLOCK * bits) / 8);
      const deq = dequantizeInPlace(Float32Array.from(w), n, k, bits);
      assert.deepEqual(unpack(q), deq, `[${n}, ${k}]`);
      // what a worker widens 8-bit blocks to on the CPU: the same floats, for any range of columns
      assert.deepEqual(dequantizeColumns(q), deq);
      const [c0, c1] = [Math.min(3, k), k - 1];
      assert.deepEqual(dequantizeColumns(q, c0, c1), Float32Array.from({ length: n * (c1 - c0) }, (_, i) => deq[Math.floor(i / (c1 - c0)) * k + c0 + (i % (c1 - c0))]!));
      const qmax = (1 << (bits - 1)) - 1;
      for (let r = 0; r < n; r++) {
        for (let c = 0; c < k; c++) {
          const scale = q.scales[r * q.blocks + Math.floor(c / QUANT_BLOCK)]!;
          assert.ok(Math.abs(deq[r * k + c]! - w[r * k + c]!) <= scale * 0.5 * (1 + 1e-4), `error at [${r}, ${c}]`);
          assert.ok(Math.abs(deq[r * k + c]! / scale) <= qmax);
        }
      }
      assert.notDeepEqual(deq, w, 'quantization changes the weights');
    }
  });
}

test('a zero block quantizes to zeros; the 4-bit codes pack two per byte, low nibble first', () => {
  const w = new Float32Array(2 * 32);
  w[32 + 0] = -1; w[32 + 1] = 1; w[32 + 2] = 0.5;
  const q = quantizeMatrix(w, 2, 32, 4);
  assert.equal(q.scales[0], 0);
  assert.ok(Math.abs(q.scales[1]! - 1 / 7) < 1e-5);
  assert.ok(q.packed.subarray(0, 16).every((b) => b === 0x88), 'zero codes are the zero point 8');
  // -1 -> code -7 + 8 = 1 (low nibble), 1 -> 7 + 8 = 15 (high nibble); 0.5 -> round(3.5) = 4 -> 12
  assert.equal(q.packed[16], 1 | (15 << 4));
  assert.equal(q.packed[17]! & 15, 12);
  assert.deepEqual(Array.from(dequantizeInPlace(new Float32Array(4), 1, 4, 8)), [0, 0, 0, 0]);
});

test('blockAlignedRange widens a K-slice to whole blocks of the global K', () => {
  assert.deepEqual(blockAlignedRange({ start: 0, end: 86 }, 172), { start: 0, end: 96 });
  assert.deepEqual(blockAlignedRange({ start: 86, end: 172 }, 172), { start: 64, end: 172 });
  assert.deepEqual(blockAlignedRange({ start: 40, end: 48 }, 64), { start: 32, end: 64 });
  assert.deepEqual(blockAlignedRange({ start: 32, end: 64 }, 64), { start: 32, end: 64 });
});

test('a K-slice widened by its halo quantizes to exactly the global dequantized columns, for every split', () => {
  const config = resolveConfig({ dim: 48, hiddenDim: 150, nLayers: 1, nHeads: 8, nKvHeads: 2, vocabSize: 50, maxSeqLen: 16 });
  const ckpt = new SynthCheckpoint(config, 3);
  for (const bits of [8, 4] as const) {
    const global = new Map(kSplitWeights(config, { heads: { start: 0, end: 8 }, hidden: { start: 0, end: 150 } }, 0).map((t) => {
      return [t.name, dequantizeInPlace(ckpt.read(t.name), config.dim, t.k, bits)] as const;
    }));
    for (const tp of [1, 2, 3, 8]) {
      for (let rank = 0; rank < tp; rank++) {
        const hidden = { start: Math.floor((rank * 150) / tp), end: Math.floor(((rank + 1) * 150) / tp) };
        // heads split as the plan splits them (tp divides 8); tp=3 splits only the FFN, unevenly
        const heads = 8 % tp === 0 ? { start: (rank * 8) / tp, end: ((rank + 1) * 8) / tp } : { start: 0, end: 8 };
        const split = { heads, hidden };
        const halos = new Map([...quantizationHaloSlices(ckpt, split)].map((h) => [h.name, h.data]));
        for (const { name, k, slice } of kSplitWeights(config, split, 0)) {
          const wide = blockAlignedRange(slice, k);
          const left = slice.start - wide.start;
          const right = wide.end - slice.end;
          const inner = ckpt.readBlock(name, 0, config.dim, slice.start, slice.end);
          const halo = halos.get(`${name}.halo`) ?? new Float32Array(0);
          assert.equal(halo.length, config.dim * (left + right));
          const width = wide.end - wide.start;
          const wideData = new Float32Array(config.dim * width);
          for (let r = 0; r < config.dim; r++) {
            wideData.set(halo.subarray(r * (left + right), r * (left + right) + left), r * width);
            wideData.set(inner.subarray(r * (slice.end - slice.start), (r + 1) * (slice.end - slice.start)), r * width + left);
            wideData.set(halo.subarray(r * (left + right) + left, (r + 1) * (left + right)), r * width + left + slice.end - slice.start);
          }
          const mine = unpack(quantizeMatrix(wideData, config.dim, width, bits));
          const want = global.get(name)!;
          for (let r = 0; r < config.dim; r++) {
            for (let c = slice.start; c < slice.end; c++) {
              assert.equal(mine[r * width + c - wide.start], want[r * k + c], `q${bits} ${name} tp=${tp} rank ${rank} [${r}, ${c}]`);
            }
          }
        }
      }
    }
  }
});

test('loadWeights({ weights }) dequantizes every matmul weight and the LM head, keeps embeddings and norms as read', () => {
  const config = resolveConfig({ dim: 64, hiddenDim: 96, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: 70, maxSeqLen: 32 });
  const ckpt = new SynthCheckpoint({ ...config, sharedClassifier: true }, 5);
  const f32 = loadWeights(ckpt);
  const q4 = loadWeights(ckpt, { weights: 'q4' });
  assert.deepEqual(q4.tokEmbeddings, f32.tokEmbeddings);
  assert.notDeepEqual(q4.output, f32.output, 'the shared LM head is quantized, the embeddings are not');
  assert.deepEqual(q4.output, dequantizeInPlace(Float32Array.from(f32.tokEmbeddings), config.vocabSize, config.dim, 4));
  for (const [l, layer] of q4.layers.entries()) {
    assert.deepEqual(layer.attentionNorm, f32.layers[l]!.attentionNorm);
    assert.deepEqual(layer.w2, dequantizeInPlace(Float32Array.from(f32.layers[l]!.w2), config.dim, config.hiddenDim, 4));
    for (const t of ['wq', 'wk', 'wv', 'wo', 'w1', 'w3'] as const) assert.notDeepEqual(layer[t], f32.layers[l]![t], t);
  }
  const logits = (w: 'f32' | 'q8'): Float32Array => Float32Array.from(ReferenceEngine.fromCheckpoint(ckpt, undefined, { weights: w }).step([1, 5, 9], [0, 1, 2]));
  const [a, b] = [logits('f32'), logits('q8')];
  assert.notDeepEqual(a, b, 'q8 changes the logits');
  assert.ok(a.every((v, i) => Math.abs(v - b[i]!) < 0.05), 'by little');
});

test('parseWeightFormat', () => {
  assert.equal(parseWeightFormat(''), 'f32');
  assert.equal(parseWeightFormat('q4'), 'q4');
  assert.throws(() => parseWeightFormat('q3'), /unknown weight format 'q3'/);
});
