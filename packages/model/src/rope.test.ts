// RoPE: the frequencies llama2.c uses, Llama 3.1 scaling, and the layout permutation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveConfig } from './config.js';
import { Rng } from './random.js';
import { applyRope, createRope, permuteRopeRows, ropeAngles, ropeFrequencies, setRopePosition } from './rope.js';

test('headDim 8, theta 10000: frequencies 1, 0.1, 0.01, 0.001 in float32', () => {
  assert.deepEqual([...ropeFrequencies(8, 10000, null)], [1, 0.1, 0.01, 0.001].map(Math.fround));
});

test('llama3 scaling keeps high frequencies, divides low ones by factor, blends between', () => {
  const plain = ropeFrequencies(128, 500000, null);
  const scaled = ropeFrequencies(128, 500000, { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
  let kept = 0;
  let divided = 0;
  let blended = 0;
  for (let i = 0; i < 64; i++) {
    const wavelen = (2 * Math.PI) / plain[i]!;
    if (wavelen < 8192 / 4) {
      assert.equal(scaled[i], plain[i]);
      kept++;
    } else if (wavelen > 8192) {
      assert.equal(scaled[i], Math.fround(plain[i]! / 8));
      divided++;
    } else {
      assert.ok(scaled[i]! < plain[i]! && scaled[i]! > plain[i]! / 8, `blended frequency ${i}`);
      blended++;
    }
  }
  assert.ok(kept > 0 && divided > 0 && blended > 0, `${kept} kept, ${divided} divided, ${blended} blended`);
  // frequencies still decrease with i
  for (let i = 1; i < 64; i++) assert.ok(scaled[i]! < scaled[i - 1]!);
});

test('ropeAngles writes at its offset the bits setRopePosition gives the reference', () => {
  const config = resolveConfig({ dim: 32, hiddenDim: 64, nLayers: 1, nHeads: 2, vocabSize: 10, maxSeqLen: 100 });
  const rope = createRope(config);
  const half = config.headDim / 2;
  const cos = new Float32Array(3 * half);
  const sin = new Float32Array(3 * half);
  for (const [row, pos] of [5, 0, 77].entries()) ropeAngles(cos, sin, rope.invFreq, pos, row * half);
  for (const [row, pos] of [5, 0, 77].entries()) {
    setRopePosition(rope, pos);
    assert.deepEqual(cos.subarray(row * half, (row + 1) * half), rope.cos, `cos of position ${pos}`);
    assert.deepEqual(sin.subarray(row * half, (row + 1) * half), rope.sin, `sin of position ${pos}`);
  }
});

test('rotating preserves norms, and position 0 is the identity', () => {
  const config = resolveConfig({ dim: 32, hiddenDim: 64, nLayers: 1, nHeads: 2, vocabSize: 10, maxSeqLen: 100 });
  const rope = createRope(config);
  const rng = new Rng(1);
  const v = Float32Array.from({ length: 32 }, () => rng.nextFloat() - 0.5);
  const w = v.slice();
  setRopePosition(rope, 0);
  applyRope(rope, w, 0, 2);
  assert.deepEqual(w, v);
  setRopePosition(rope, 17);
  applyRope(rope, w, 0, 2);
  const norm = (x: Float32Array): number => Math.hypot(...x);
  assert.ok(Math.abs(norm(w) - norm(v)) < 1e-5);
  assert.notDeepEqual(w, v);
});

test('permuted rows under rotate-half give the same q·k as interleaved rows', () => {
  const nHeads = 2;
  const headDim = 8;
  const cols = 5;
  const rng = new Rng(2);
  const wq = Float32Array.from({ length: nHeads * headDim * cols }, () => rng.nextFloat() - 0.5);
  const wk = Float32Array.from({ length: nHeads * headDim * cols }, () => rng.nextFloat() - 0.5);
  const x = Float32Array.from({ length: cols }, () => rng.nextFloat() - 0.5);
  const y = Float32Array.from({ length: cols }, () => rng.nextFloat() - 0.5);
  const project = (w: Float32Array, v: Float32Array): Float32Array =>
    Float32Array.from({ length: nHeads * headDim }, (_, r) => v.reduce((s, vj, j) => s + w[r * cols + j]! * vj, 0));
  const scores = (layout: 'interleaved' | 'half', q: Float32Array, k: Float32Array): number[] => {
    const rope = createRope(resolveConfig({ dim: 16, hiddenDim: 8, nLayers: 1, nHeads, vocabSize: 4, maxSeqLen: 64, ropeLayout: layout }));
    setRopePosition(rope, 9);
    applyRope(rope, q, 0, nHeads);
    setRopePosition(rope, 4);
    applyRope(rope, k, 0, nHeads);
    return [0, 1].map((h) => q.subarray(h * headDim, (h + 1) * headDim).reduce((s, qi, i) => s + qi * k[h * headDim + i]!, 0));
  };
  const a = scores('interleaved', project(wq, x), project(wk, y));
  const wqHalf = permuteRopeRows(wq, nHeads, headDim, cols, 'interleaved', 'half');
  const wkHalf = permuteRopeRows(wk, nHeads, headDim, cols, 'interleaved', 'half');
  const b = scores('half', project(wqHalf, x), project(wkHalf, y));
  a.forEach((s, h) => assert.ok(Math.abs(s - b[h]!) < 1e-6, `head ${h}: ${s} vs ${b[h]}`));
  assert.deepEqual(permuteRopeRows(wqHalf, nHeads, headDim, cols, 'half', 'interleaved'), wq);
});
