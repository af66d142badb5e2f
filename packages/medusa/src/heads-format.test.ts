// Medusa heads on disk: FasterDecoding's and vLLM's layouts, counts inferred from tensor names,
// warnings when config.json disagrees, and errors that name the tensor and the numbers.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { matvec, writeSafetensors, type SafetensorsEntry } from '@octoserve/model';
import { MEDUSA_HEADS_FILE, loadMedusaHeads, writeMedusaHeads } from './heads-format.js';
import { applyHead, createHeadScratch, createMedusaHeads, type MedusaHeads } from './heads.js';

const root = mkdtempSync(join(tmpdir(), 'octoserve-medusa-heads-'));
after(() => rmSync(root, { recursive: true, force: true }));

const D = 4;
const V = 6;

/** Deterministic values in (-0.5, 0.5). */
function values(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => (((i + 1) * 2654435761 + seed * 40503) % 1000) / 1000 - 0.5);
}

function randomHeads(numHeads: number, numLayers: number): MedusaHeads {
  return {
    numHeads, numLayers, dim: D, vocabSize: V,
    layers: Array.from({ length: numHeads }, (_, h) => Array.from({ length: numLayers }, (_, l) => ({ w: values(D * D, 10 * h + l), b: values(D, 100 + 10 * h + l) }))),
    output: Array.from({ length: numHeads }, (_, h) => values(V * D, 500 + h)),
  };
}

function dir(name: string): string {
  const d = join(root, name);
  mkdirSync(d, { recursive: true });
  return d;
}

function collect(): { log: (line: string) => void; lines: string[] } {
  const lines: string[] = [];
  return { log: (l) => lines.push(l), lines };
}

test('FasterDecoding layout: write then load gives the same heads, and config.json holds the counts', () => {
  const heads = randomHeads(3, 2);
  const d = join(root, 'fd');
  writeMedusaHeads(d, heads, { baseModel: 'stories260K.bin' });
  const config = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(config.medusa_num_heads, 3);
  assert.equal(config.medusa_num_layers, 2);
  assert.equal(config.base_model_name_or_path, 'stories260K.bin');
  const { log, lines } = collect();
  const back = loadMedusaHeads(d, { baseVocab: V, baseDim: D, log });
  assert.deepEqual(lines, []);
  assert.equal(back.numHeads, 3);
  assert.equal(back.numLayers, 2);
  for (let h = 0; h < 3; h++) {
    for (let l = 0; l < 2; l++) {
      assert.deepEqual(back.layers[h]![l]!.w, heads.layers[h]![l]!.w);
      assert.deepEqual(back.layers[h]![l]!.b, heads.layers[h]![l]!.b);
    }
    assert.deepEqual(back.output[h], heads.output[h]);
  }
  // the file itself works as a path too
  assert.equal(loadMedusaHeads(join(d, MEDUSA_HEADS_FILE), { baseVocab: V, baseDim: D, log }).numHeads, 3);
});

test('counts come from the tensor names; a config that disagrees gets a warning', () => {
  const d = join(root, 'fd-wrong-config');
  writeMedusaHeads(d, randomHeads(2, 1));
  writeFileSync(join(d, 'config.json'), JSON.stringify({ medusa_num_heads: 5, medusa_num_layers: 1 }));
  const { log, lines } = collect();
  const heads = loadMedusaHeads(d, { baseVocab: V, baseDim: D, log });
  assert.equal(heads.numHeads, 2);
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /says medusa_num_heads 5, but medusa_lm_head\.safetensors holds 2 heads; using 2/);
});

function writeVllm(d: string, entries: SafetensorsEntry[], config: Record<string, unknown>): void {
  writeSafetensors(join(d, 'model.safetensors'), entries);
  writeFileSync(join(d, 'config.json'), JSON.stringify(config));
}

test("vLLM layout: blocks.{h}.layers.{l}.*, per-head lm_heads, a missing bias reads as zero", () => {
  const src = randomHeads(2, 1);
  const d = dir('vllm');
  writeVllm(d, [
    { name: 'blocks.0.layers.0.weight', dtype: 'F32', shape: [D, D], data: src.layers[0]![0]!.w },
    { name: 'blocks.1.layers.0.weight', dtype: 'F32', shape: [D, D], data: src.layers[1]![0]!.w },
    { name: 'blocks.1.layers.0.bias', dtype: 'F32', shape: [D], data: src.layers[1]![0]!.b },
    { name: 'lm_heads.0.weight', dtype: 'F32', shape: [V, D], data: src.output[0] as Float32Array },
    { name: 'lm_heads.1.weight', dtype: 'F16', shape: [V, D], data: src.output[1] as Float32Array },
  ], { num_heads: 3, num_hidden_layers: 1, hidden_size: D });
  const { log, lines } = collect();
  const heads = loadMedusaHeads(d, { baseVocab: V, baseDim: D, log });
  assert.equal(heads.numHeads, 2);
  assert.deepEqual(lines.length, 1);
  assert.match(lines[0]!, /says num_heads 3, but model\.safetensors holds 2 heads/);
  assert.deepEqual(heads.layers[0]![0]!.w, src.layers[0]![0]!.w);
  assert.deepEqual(heads.layers[0]![0]!.b, new Float32Array(D));
  assert.deepEqual(heads.layers[1]![0]!.b, src.layers[1]![0]!.b);
  assert.deepEqual(heads.output[0], src.output[0]);
  const f16 = heads.output[1]!;
  (src.output[1] as Float32Array).forEach((v, i) => assert.ok(Math.abs(f16[i]! - v) < 1e-3, 'F16 projection read back'));
});

test("vLLM layout: one lm_head.weight is shared by every head; no projection at all means the base LM head", () => {
  const src = randomHeads(2, 1);
  const layers: SafetensorsEntry[] = [0, 1].map((h) => ({ name: `blocks.${h}.layers.0.weight`, dtype: 'F32', shape: [D, D], data: src.layers[h]![0]!.w }));
  const shared = dir('vllm-shared');
  writeVllm(shared, [...layers, { name: 'lm_head.weight', dtype: 'F32', shape: [V, D], data: src.output[0] as Float32Array }], { num_heads: 2 });
  const a = loadMedusaHeads(shared, { baseVocab: V, baseDim: D, log: () => undefined });
  assert.equal(a.output[0], a.output[1], 'one array for both heads');
  assert.deepEqual(a.output[1], src.output[0]);

  const base = dir('vllm-base-head');
  writeVllm(base, layers, { num_heads: 2 });
  const b = loadMedusaHeads(base, { baseVocab: V, baseDim: D, log: () => undefined });
  assert.deepEqual(b.output, [null, null]);
  // applyHead then uses the base LM head it is given
  const baseOutput = values(V * D, 77);
  const hidden = values(D, 3);
  const got = new Float32Array(V);
  applyHead(b, 0, hidden, 0, baseOutput, createHeadScratch(D), got);
  const withOwn = { ...b, output: [baseOutput, baseOutput] };
  const want = new Float32Array(V);
  applyHead(withOwn, 0, hidden, 0, null, createHeadScratch(D), want);
  assert.deepEqual(got, want);
  assert.throws(() => applyHead(b, 0, hidden, 0, null, createHeadScratch(D), got), /shares the base LM head, but none was given/);
});

test('errors name the file, the tensor and the numbers', () => {
  const opts = { baseVocab: V, baseDim: D, log: () => undefined };
  assert.throws(() => loadMedusaHeads(join(root, 'nope'), opts), /no Medusa heads at .*nope/);
  const empty = dir('empty');
  writeFileSync(join(empty, 'medusa_lm_head.pt'), 'pickle');
  assert.throws(() => loadMedusaHeads(empty, opts), /has no medusa_lm_head\.safetensors .* or model\.safetensors .*medusa_lm_head\.pt is a PyTorch pickle/);

  const wrongDim = join(root, 'wrong-dim');
  writeMedusaHeads(wrongDim, randomHeads(1, 1));
  assert.throws(() => loadMedusaHeads(wrongDim, { ...opts, baseDim: 8 }),
    /tensor 0\.0\.linear\.weight has shape \[4, 4\]; a model of dim 8 needs \[8, 8\]/);
  assert.throws(() => loadMedusaHeads(wrongDim, { ...opts, baseVocab: 7 }),
    /tensor 0\.1\.weight has shape \[6, 4\]; a model of vocabulary 7 and dim 4 needs \[7, 4\]/);

  const uneven = dir('uneven');
  const h = randomHeads(2, 2);
  writeSafetensors(join(uneven, MEDUSA_HEADS_FILE), [
    { name: '0.0.linear.weight', dtype: 'F32', shape: [D, D], data: h.layers[0]![0]!.w },
    { name: '0.0.linear.bias', dtype: 'F32', shape: [D], data: h.layers[0]![0]!.b },
    { name: '0.1.weight', dtype: 'F32', shape: [V, D], data: h.output[0] as Float32Array },
    { name: '1.0.linear.weight', dtype: 'F32', shape: [D, D], data: h.layers[1]![0]!.w },
    { name: '1.0.linear.bias', dtype: 'F32', shape: [D], data: h.layers[1]![0]!.b },
    { name: '1.1.linear.weight', dtype: 'F32', shape: [D, D], data: h.layers[1]![1]!.w },
    { name: '1.1.linear.bias', dtype: 'F32', shape: [D], data: h.layers[1]![1]!.b },
    { name: '1.2.weight', dtype: 'F32', shape: [V, D], data: h.output[1] as Float32Array },
  ]);
  assert.throws(() => loadMedusaHeads(uneven, opts), /tensor 1\.1\.weight is missing/);

  const stray = join(root, 'stray');
  writeMedusaHeads(stray, randomHeads(1, 1));
  writeSafetensors(join(stray, MEDUSA_HEADS_FILE), [
    { name: '0.0.linear.weight', dtype: 'F32', shape: [D, D], data: h.layers[0]![0]!.w },
    { name: '0.0.linear.bias', dtype: 'F32', shape: [D], data: h.layers[0]![0]!.b },
    { name: '0.1.weight', dtype: 'F32', shape: [V, D], data: h.output[0] as Float32Array },
    { name: 'extra.weight', dtype: 'F32', shape: [D], data: h.layers[0]![0]!.b },
  ]);
  assert.throws(() => loadMedusaHeads(stray, opts), /unexpected tensor extra\.weight: the heads were read as 1 heads of 1 layers/);
  assert.ok(existsSync(join(stray, 'config.json')));
});

test('applyHead: a fresh head is the base LM head; one layer adds SiLU(W h + b) first', () => {
  const base = values(V * D, 9);
  const fresh = createMedusaHeads(2, 1, base, D, V);
  const hidden = values(D, 4);
  const want = new Float32Array(V);
  matvec(want, base, hidden, V, D);
  const got = new Float32Array(V);
  applyHead(fresh, 1, hidden, 0, null, createHeadScratch(D), got);
  assert.deepEqual(got, want);

  // by hand: W = identity / 2, b = 1 -> x = h + SiLU(h / 2 + 1)
  const w = new Float32Array(D * D);
  for (let i = 0; i < D; i++) w[i * D + i] = 0.5;
  const one: MedusaHeads = { ...fresh, layers: [[{ w, b: new Float32Array(D).fill(1) }], fresh.layers[1]!] };
  const x = Float32Array.from(hidden, (v) => { const z = v / 2 + 1; return v + z / (1 + Math.exp(-z)); });
  matvec(want, base, x, V, D);
  applyHead(one, 0, hidden, 0, null, createHeadScratch(D), got);
  got.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) < 1e-6, `logit ${i}: ${v} vs ${want[i]}`));
});
