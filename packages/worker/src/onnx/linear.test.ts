// MatMulNBits projections (--weights q8|q4): onnxruntime multiplies by exactly the weights
// @octoserve/model dequantizes to, including short last blocks and inputs padded to whole blocks.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import ort from 'onnxruntime-node';
import { dequantizeInPlace, quantizeMatrix, resolveConfig } from '@octoserve/model';
import { GraphBuilder } from './graph-builder.js';
import { linear } from './linear.js';
import { assembleShard, ShardLoadError } from '../shard-loader.js';
import { shardWeightBytes } from '../shard-quantize.js';

function rng(seed: number): () => number {
  let s = seed;
  return () => { s = (s * 1103515245 + 12345) % 2 ** 31; return s / 2 ** 31 - 0.5; };
}

async function project(n: number, k: number, padLeft: number, padRight: number, bits: 4 | 8, x: Float32Array, rows: number, int8Activations = false): Promise<{ y: Float32Array; deq: Float32Array }> {
  const r = rng(n * 1000 + k + bits);
  const kk = k + padLeft + padRight;
  const w = Float32Array.from({ length: n * kk }, r);
  const g = new GraphBuilder('linear');
  g.input('x', ['tokens', k]);
  g.output('y', ['tokens', n]);
  linear(g, 'x', 'w', { q: quantizeMatrix(w, n, kk, bits), padLeft, padRight, int8Activations }, [n, k], 'y');
  const session = await ort.InferenceSession.create(g.toBytes(), { intraOpNumThreads: 1, graphOptimizationLevel: 'all' });
  const out = await session.run({ x: new ort.Tensor('float32', x, [rows, k]) });
  return { y: out.y!.data as Float32Array, deq: dequantizeInPlace(w, n, kk, bits) };
}

for (const bits of [8, 4] as const) {
  test(`q${bits}: MatMulNBits rows of the identity read back the dequantized weights bit for bit`, async () => {
    for (const [n, k, pl, pr] of [[16, 64, 0, 0], [7, 45, 0, 0], [9, 21, 5, 6], [3, 8, 24, 0]] as const) {
      const eye = new Float32Array(k * k);
      for (let i = 0; i < k; i++) eye[i * k + i] = 1;
      const { y, deq } = await project(n, k, pl, pr, bits, eye, k);
      const kk = k + pl + pr;
      for (let i = 0; i < k; i++) for (let j = 0; j < n; j++) assert.equal(y[i * n + j], deq[j * kk + pl + i], `[${n}, ${k}] +${pl}/${pr} at (${i}, ${j})`);
    }
  });
}

for (const bits of [8, 4] as const) {
  test(`q${bits}a8: int8 activations stay within int8's rounding of the float32 product over the same weights`, async () => {
    for (const [n, k, pl, pr] of [[16, 64, 0, 0], [40, 96, 0, 0], [9, 21, 5, 6]] as const) {
      const rows = 3;
      const x = Float32Array.from({ length: rows * k }, rng(7 + k));
      const { y, deq } = await project(n, k, pl, pr, bits, x, rows, true);
      const { y: floatY } = await project(n, k, pl, pr, bits, x, rows);
      assert.ok(y.some((v, i) => v !== floatY[i]), `[${n}, ${k}]: int8 activations gave the float32 kernel's bits`);
      const kk = k + pl + pr;
      for (let i = 0; i < rows; i++) {
        for (let j = 0; j < n; j++) {
          // each input is rounded to 1/127 of its block's largest magnitude: at most 1/254 of it
          let exact = 0;
          let bound = 0;
          for (let c = 0; c < k; c++) {
            const wv = deq[j * kk + pl + c]!;
            exact += x[i * k + c]! * wv;
            bound += (0.5 / 254) * Math.abs(wv) * 1.01;
          }
          assert.ok(Math.abs(y[i * n + j]! - exact) <= bound + 1e-5, `[${n}, ${k}] (${i}, ${j}): ${y[i * n + j]} against ${exact} (bound ${bound})`);
          assert.notEqual(y[i * n + j], 0);
        }
      }
    }
  });
}

test('a quantized shard needs the halo of an unaligned K-slice, and holds fewer bytes', () => {
  const config = resolveConfig({ dim: 32, hiddenDim: 50, nLayers: 1, nHeads: 4, nKvHeads: 2, vocabSize: 20, maxSeqLen: 8 });
  const shard = { rank: 1, tp: 2, heads: { start: 2, end: 4 }, kvHeads: { start: 1, end: 2 }, hidden: { start: 25, end: 50 }, vocab: { start: 10, end: 20 } };
  const r = rng(3);
  const f = (n: number): Float32Array => Float32Array.from({ length: n }, r);
  const slices = [
    { name: 'layers.0.attention_norm', shape: [1, 32] as [number, number], data: f(32) },
    { name: 'layers.0.wqkv', shape: [32, 32] as [number, number], data: f(32 * 32) },
    { name: 'layers.0.wo', shape: [32, 16] as [number, number], data: f(32 * 16) },
    { name: 'layers.0.ffn_norm', shape: [1, 32] as [number, number], data: f(32) },
    { name: 'layers.0.w13', shape: [50, 32] as [number, number], data: f(50 * 32) },
    { name: 'layers.0.w2', shape: [32, 25] as [number, number], data: f(32 * 25) },
    { name: 'norm', shape: [1, 32] as [number, number], data: f(32) },
    { name: 'output', shape: [10, 32] as [number, number], data: f(10 * 32) },
  ];
  // w2's slice [25, 50) lies in the blocks [0, 32) and [32, 50): 25 columns of halo; wo's [16, 32) needs 16
  assert.throws(() => assembleShard(config, shard, slices, undefined, 'q4'), (err: unknown) => err instanceof ShardLoadError && /layers\.0\.wo: rank 1 of 2 needs 16 halo columns/.test(err.message));
  const halos = [{ name: 'layers.0.wo.halo', shape: [32, 16] as [number, number], data: f(32 * 16) }, { name: 'layers.0.w2.halo', shape: [32, 25] as [number, number], data: f(32 * 25) }];
  const q4 = assembleShard(config, shard, [...slices, ...halos], undefined, 'q4');
  const f32 = assembleShard(config, shard, [...slices, ...halos]);
  assert.ok(shardWeightBytes(q4) < shardWeightBytes(f32) / 2);
  assert.deepEqual((q4.layers[0]!.w2 as { padLeft: number; padRight: number }), { ...(q4.layers[0]!.w2 as object), padLeft: 25, padRight: 0 });
});
