// The shard segments against a naive float64 evaluation of the same math.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import ort from 'onnxruntime-node';
import { buildAttentionSegment, buildFeedForwardSegment, buildHeadSegment, WCLS_FEED } from './segments.js';
import type { SegmentShape, LayerShardWeights } from './segments.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (s + 0x6d2b79f5) >>> 0; let t = s; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5; };
}
function rand(n: number, r: () => number, scale = 0.5): Float32Array { return Float32Array.from({ length: n }, () => r() * scale); }

/** y = W x for W (out, in). */
function matvec(w: Float32Array, x: ArrayLike<number>, out: number, inn: number): number[] {
  return Array.from({ length: out }, (_, i) => { let s = 0; for (let j = 0; j < inn; j++) s += w[i * inn + j]! * x[j]!; return s; });
}
function rms(x: number[], w: Float32Array, eps: number): number[] {
  const ms = x.reduce((a, v) => a + v * v, 0) / x.length; const r = 1 / Math.sqrt(ms + eps);
  return x.map((v, i) => v * r * w[i]!);
}
function ropeRow(v: number[], heads: number, hd: number, pos: number, layout: 'interleaved' | 'half'): number[] {
  const o = v.slice();
  for (let h = 0; h < heads; h++) for (let i = 0; i < hd / 2; i++) {
    const a = layout === 'interleaved' ? h * hd + 2 * i : h * hd + i;
    const b = layout === 'interleaved' ? a + 1 : a + hd / 2;
    const ang = pos / Math.pow(10000, (2 * i) / hd);
    o[a] = v[a]! * Math.cos(ang) - v[b]! * Math.sin(ang); o[b] = v[a]! * Math.sin(ang) + v[b]! * Math.cos(ang);
  }
  return o;
}
function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i]! - expected[i]!) <= tol * (1 + Math.abs(expected[i]!)), `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

const shape: SegmentShape = { dim: 16, headDim: 4, nHeads: 4, nKvHeads: 2, hidden: 12, maxSeq: 6, normEps: 1e-5, ropeLayout: 'interleaved' };

/** A layer of float weights (the naive math below reads them). */
type FloatLayer = Record<keyof LayerShardWeights, Float32Array>;

function weights(r: () => number): FloatLayer {
  const { dim, headDim: hd, nHeads, nKvHeads, hidden } = shape;
  return {
    attnNorm: rand(dim, r, 2), wqkv: rand((nHeads + 2 * nKvHeads) * hd * dim, r), wo: rand(dim * nHeads * hd, r),
    ffnNorm: rand(dim, r, 2), w13: rand(2 * hidden * dim, r), w2: rand(dim * hidden, r),
  };
}

async function session(bytes: Uint8Array): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
}

for (const layout of ['interleaved', 'half'] as const) {
  test(`attention segment (${layout} RoPE, GQA, 2 cached + 2 new tokens with a causal mask) matches naive math`, async () => {
    const s = { ...shape, ropeLayout: layout };
    const r = rng(7); const w = weights(r);
    const { dim, headDim: hd, nHeads, nKvHeads, maxSeq } = s;
    const kvDim = nKvHeads * hd; const group = nHeads / nKvHeads;
    const past = 2; const T = 2;
    const pastK = Array.from({ length: past }, () => Array.from(rand(kvDim, r)));
    const pastV = Array.from({ length: past }, () => Array.from(rand(kvDim, r)));
    const x = rand(T * dim, r);
    const kCache = new Float32Array(nKvHeads * maxSeq * hd); const vCache = new Float32Array(nKvHeads * maxSeq * hd);
    for (let p = 0; p < past; p++) for (let g = 0; g < nKvHeads; g++) for (let d = 0; d < hd; d++) {
      kCache[(g * maxSeq + p) * hd + d] = pastK[p]![g * hd + d]!; vCache[(g * maxSeq + p) * hd + d] = pastV[p]![g * hd + d]!;
    }
    // slots past the committed ones hold stale values a step must not read (a dropped Medusa candidate)
    for (let i = 0; i < kCache.length; i++) if (Math.floor(i / hd) % maxSeq >= past) { kCache[i] = 1e4; vCache[i] = 1e4; }
    // one angle per pair (the layout says which elements pair up: ropeRow below)
    const cos = new Float32Array(T * hd / 2); const sin = new Float32Array(T * hd / 2);
    for (let t = 0; t < T; t++) for (let i = 0; i < hd / 2; i++) {
      const a = (past + t) / Math.pow(10000, (2 * i) / hd);
      cos[t * hd / 2 + i] = Math.cos(a); sin[t * hd / 2 + i] = Math.sin(a);
    }
    const mask = new Float32Array(T * (maxSeq + T)).fill(-Infinity);
    for (let t = 0; t < T; t++) { for (let p = 0; p < past; p++) mask[t * (maxSeq + T) + p] = 0; for (let u = 0; u <= t; u++) mask[t * (maxSeq + T) + maxSeq + u] = 0; }

    const sess = await session(buildAttentionSegment('attn', s, w));
    const out = await sess.run({
      x: new ort.Tensor('float32', x, [T, dim]),
      cos: new ort.Tensor('float32', cos, [1, T, hd / 2]), sin: new ort.Tensor('float32', sin, [1, T, hd / 2]),
      mask: new ort.Tensor('float32', mask, [T, maxSeq + T]),
      k_cache: new ort.Tensor('float32', kCache, [1, nKvHeads, maxSeq, hd]), v_cache: new ort.Tensor('float32', vCache, [1, nKvHeads, maxSeq, hd]),
      past: new ort.Tensor('int32', Int32Array.of(past), [1]),
    });

    const keys = pastK.slice(); const values = pastV.slice(); const expectPartial: number[] = []; const expectK: number[] = [];
    const rows: number[][] = [];
    for (let t = 0; t < T; t++) {
      const xt = Array.from(x.subarray(t * dim, (t + 1) * dim));
      const qkv = matvec(w.wqkv, rms(xt, w.attnNorm, s.normEps), (nHeads + 2 * kvDim / hd) * hd, dim);
      const q = ropeRow(qkv.slice(0, nHeads * hd), nHeads, hd, past + t, layout);
      const k = ropeRow(qkv.slice(nHeads * hd, nHeads * hd + kvDim), nKvHeads, hd, past + t, layout);
      keys.push(k); values.push(qkv.slice(nHeads * hd + kvDim)); expectK.push(...k); rows.push(q);
    }
    for (let t = 0; t < T; t++) {
      const att: number[] = [];
      for (let hh = 0; hh < nHeads; hh++) {
        const g = Math.floor(hh / group); const visible = past + t + 1;
        const sc = Array.from({ length: visible }, (_, p) => { let d = 0; for (let i = 0; i < hd; i++) d += rows[t]![hh * hd + i]! * keys[p]![g * hd + i]!; return d / Math.sqrt(hd); });
        const m = Math.max(...sc); const e = sc.map((v) => Math.exp(v - m)); const z = e.reduce((a, b) => a + b, 0);
        for (let i = 0; i < hd; i++) att.push(e.reduce((a, pe, p) => a + (pe / z) * values[p]![g * hd + i]!, 0));
      }
      expectPartial.push(...matvec(w.wo, att, dim, nHeads * hd));
    }
    close(out.partial!.data as Float32Array, expectPartial, 1e-4, 'partial');
    close(out.k_new!.data as Float32Array, expectK, 1e-4, 'k_new');
  });
}

test('feed-forward segment matches naive math', async () => {
  const r = rng(11); const w = weights(r); const { dim, hidden } = shape;
  const x = rand(dim, r);
  const sess = await session(buildFeedForwardSegment('ffn', shape, w));
  const out = await sess.run({ x: new ort.Tensor('float32', x, [1, dim]) });
  const gu = matvec(w.w13, rms(Array.from(x), w.ffnNorm, shape.normEps), 2 * hidden, dim);
  const act = Array.from({ length: hidden }, (_, i) => { const g = gu[i]!; return (g / (1 + Math.exp(-g))) * gu[hidden + i]!; });
  close(out.partial!.data as Float32Array, matvec(w.w2, act, dim, hidden), 1e-4, 'partial');
});

test('head segment returns max, argmax, top-k, softmax pieces and picked logits of its rows', async () => {
  const r = rng(5); const { dim } = shape; const rows = 10; const k = 3;
  const w = { finalNorm: rand(dim, r, 2), wcls: rand(rows * dim, r) };
  const x = rand(dim, r);
  const sess = await session(buildHeadSegment('head', shape, w, rows, k));
  const ids = BigInt64Array.from([4n, 7n]);
  const out = await sess.run({ x: new ort.Tensor('float32', x, [1, dim]), ids: new ort.Tensor('int64', ids, [1, 2]), inv_temp: new ort.Tensor('float32', Float32Array.of(1 / 0.7), [1, 1]), u: new ort.Tensor('float32', Float32Array.of(0.6), [1, 1]) });
  const logits = matvec(w.wcls, rms(Array.from(x), w.finalNorm, shape.normEps), rows, dim);
  const order = logits.map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  const m = order[0]![0];
  close(out.max!.data as Float32Array, [m], 1e-5, 'max');
  assert.equal(Number((out.argmax!.data as BigInt64Array)[0]), order[0]![1]);
  assert.deepEqual(Array.from(out.topk_indices!.data as BigInt64Array, Number), order.slice(0, k).map((o) => o[1]));
  const it = 1 / 0.7;
  close(out.sumexp!.data as Float32Array, [logits.reduce((a, l) => a + Math.exp((l - m) * it), 0)], 1e-5, 'sumexp');
  close(out.sumexp_logit!.data as Float32Array, [logits.reduce((a, l) => a + Math.exp((l - m) * it) * l * it, 0)], 1e-5, 'sumexp_logit');
  close(out.picked!.data as Float32Array, [logits[4]!, logits[7]!], 1e-5, 'picked');
  // the draw: the first row whose cumulative tempered probability exceeds u = 0.6
  const p = logits.map((l) => Math.exp((l - m) * it));
  const z = p.reduce((a, b) => a + b, 0);
  let acc = 0;
  const want = p.findIndex((v) => (acc += v) > 0.6 * z);
  assert.equal(Number((out.sample!.data as BigInt64Array)[0]), want);
});

test('a fed classifier (wclsFed) is a graph input, not an initializer, and gives the bits of the initializer head', async () => {
  const r = rng(9); const { dim } = shape; const rows = 12; const k = 4;
  const w = { finalNorm: rand(dim, r, 2), wcls: rand(rows * dim, r) };
  const x = rand(2 * dim, r);
  const feeds = {
    x: new ort.Tensor('float32', x, [2, dim]), ids: new ort.Tensor('int64', BigInt64Array.from([1n, 2n, 3n, 11n]), [2, 2]),
    inv_temp: new ort.Tensor('float32', Float32Array.of(1, 1), [2, 1]), u: new ort.Tensor('float32', Float32Array.of(0.3, 0.9), [2, 1]),
  };
  const held = await session(buildHeadSegment('head', shape, w, rows, k));
  const fed = await session(buildHeadSegment('head', shape, { ...w, wclsFed: true }, rows, k));
  assert.ok(fed.inputNames.includes(WCLS_FEED) && !held.inputNames.includes(WCLS_FEED));
  await assert.rejects(fed.run(feeds), /wcls/, 'without its classifier the fed head does not run');
  const a = await held.run(feeds);
  const b = await fed.run({ ...feeds, [WCLS_FEED]: new ort.Tensor('float32', w.wcls, [rows, dim]) });
  for (const name of ['max', 'argmax', 'topk_values', 'topk_indices', 'sumexp', 'picked', 'hidden']) {
    assert.deepEqual(b[name]!.data, a[name]!.data, name);
  }
});
