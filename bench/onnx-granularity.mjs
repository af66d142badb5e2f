// Graph granularity of a worker's shard: the feed-forward block as one fused ONNX graph (what
// the worker runs) against the same math as three graphs run one after another (norm,
// gate/up + SwiGLU, down). Prints a table and writes bench-results/onnx-granularity.json.
// Run after `npm run build`: node bench/onnx-granularity.mjs
import { mkdirSync, writeFileSync } from 'node:fs';
import ort from 'onnxruntime-node';
import { GraphBuilder } from '../packages/worker/dist/onnx/graph-builder.js';
import { rmsNorm, swiGlu } from '../packages/worker/dist/onnx/blocks.js';
import { buildFeedForwardSegment } from '../packages/worker/dist/onnx/segments.js';
const opts = { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all' };
const rnd = (n) => Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 0.02);
async function time(runs, n = 400) { for (let i = 0; i < 50; i++) await runs(); const t0 = performance.now(); for (let i = 0; i < n; i++) await runs(); return (performance.now() - t0) / n * 1000; }
const rows = [];
for (const [name, dim, hidden] of [['stories260K tp=8 rank', 64, 22], ['stories110m tp=1', 768, 2048]]) {
  const s = { dim, headDim: 8, nHeads: 1, nKvHeads: 1, hidden, maxSeq: 16, normEps: 1e-5, ropeLayout: 'interleaved' };
  const w = { attnNorm: rnd(dim), wqkv: rnd(24 * dim), wo: rnd(dim * 8), ffnNorm: rnd(dim), w13: rnd(2 * hidden * dim), w2: rnd(dim * hidden) };
  const fused = await ort.InferenceSession.create(buildFeedForwardSegment('f', s, w), opts);
  // per block: residual+norm, gate/up+SwiGLU, down
  const g1 = new GraphBuilder('norm'); { const x = g1.op('Add', [g1.input('h', ['T', dim]), g1.input('delta', ['T', dim])], {}, 'h_out'); g1.output('h_out', ['T', dim]); g1.output('xn', ['T', dim]); g1.op('Identity', [rmsNorm(g1, x, g1.weight('w', w.ffnNorm, [dim]), g1.scalar('eps', 1e-5))], {}, 'xn'); }
  const g2 = new GraphBuilder('gateup'); { const gu = g2.op('Gemm', [g2.input('xn', ['T', dim]), g2.weight('w13', w.w13, [2 * hidden, dim])], { transB: 1 }); const [a, b] = g2.opN('Split', [gu], { axis: 1 }, 2); g2.output('act', ['T', hidden]); g2.op('Identity', [swiGlu(g2, a, b)], {}, 'act'); }
  const g3 = new GraphBuilder('down'); { g3.output('partial', ['T', dim]); g3.op('Gemm', [g3.input('act', ['T', hidden]), g3.weight('w2', w.w2, [dim, hidden])], { transB: 1 }, 'partial'); }
  const [s1, s2, s3] = await Promise.all([g1, g2, g3].map((g) => ort.InferenceSession.create(g.toBytes(), opts)));
  const h = new ort.Tensor('float32', rnd(dim), [1, dim]); const d = new ort.Tensor('float32', rnd(dim), [1, dim]);
  const tf = await time(() => fused.run({ h, delta: d }));
  const tb = await time(async () => { const a = await s1.run({ h, delta: d }); const b = await s2.run({ xn: a.xn }); await s3.run({ act: b.act }); });
  rows.push({ shape: name, dim, hidden, fused_us: tf, per_block_us: tb });
}
console.log('shape                     fused_us  per_block_us');
for (const r of rows) console.log(`${r.shape.padEnd(24)} ${r.fused_us.toFixed(1).padStart(9)} ${r.per_block_us.toFixed(1).padStart(13)}`);
mkdirSync('bench-results', { recursive: true });
writeFileSync('bench-results/onnx-granularity.json', JSON.stringify({ rows }, null, 2) + '\n');
