// Sampling: greedy ties, seeded reproducibility, and top-k / top-p limits.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Rng } from './random.js';
import { Sampler, argmax } from './sampling.js';

/** Random logits with a spread like a small model's. */
function randomLogits(n: number, seed: number): Float32Array {
  const rng = new Rng(seed, 'logits');
  return Float32Array.from({ length: n }, () => 6 * rng.nextFloat());
}

function draw(sampler: Sampler, logits: Float32Array, times: number): number[] {
  return Array.from({ length: times }, () => sampler.sample(logits));
}

describe('greedy', () => {
  test('argmax picks the largest, the lowest index among equals', () => {
    assert.equal(argmax(Float32Array.of(0, 3, 1, 3)), 1);
    assert.equal(argmax(Float32Array.of(-5, -4, -4)), 1);
    assert.equal(new Sampler(4, { temperature: 0 }).sample(Float32Array.of(2, 7, 7, 1)), 1);
  });
});

describe('temperature sampling', () => {
  const logits = randomLogits(512, 1);

  test('the same seed gives the same tokens; another seed gives others', () => {
    const a = draw(new Sampler(512, { temperature: 1, seed: 42 }), logits, 200);
    const b = draw(new Sampler(512, { temperature: 1, seed: 42 }), logits, 200);
    const c = draw(new Sampler(512, { temperature: 1, seed: 43 }), logits, 200);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
    assert.ok(new Set(a).size > 50, 'temperature 1 over flat-ish logits spreads over many tokens');
  });

  test('does not modify the logits', () => {
    const copy = logits.slice();
    draw(new Sampler(512, { temperature: 0.7, topK: 10, topP: 0.9, seed: 1 }), logits, 5);
    assert.deepEqual(logits, copy);
  });

  test('frequencies follow softmax(logits / T)', () => {
    const l = Float32Array.of(0, Math.log(2), Math.log(5), -Infinity); // probabilities 1/8, 2/8, 5/8, 0
    const counts = [0, 0, 0, 0];
    for (const t of draw(new Sampler(4, { temperature: 1, seed: 5 }), l, 8000)) counts[t]!++;
    assert.equal(counts[3], 0);
    [1 / 8, 2 / 8, 5 / 8].forEach((p, i) => assert.ok(Math.abs(counts[i]! / 8000 - p) < 0.02, `token ${i}: ${counts[i]! / 8000} vs ${p}`));
  });

  test('top-k = 1 is greedy, whatever the temperature and seed', () => {
    for (let seed = 0; seed < 20; seed++) {
      const l = randomLogits(1000, seed);
      assert.equal(new Sampler(1000, { temperature: 1.5, topK: 1, seed }).sample(l), argmax(l));
    }
  });

  test('a tiny top-p is greedy, whatever the temperature and seed', () => {
    for (let seed = 0; seed < 20; seed++) {
      const l = randomLogits(1000, seed);
      assert.equal(new Sampler(1000, { temperature: 2, topP: 1e-6, seed }).sample(l), argmax(l));
    }
    // with a near-flat distribution too (every probability below (1-p)/(n-1))
    const flat = Float32Array.from({ length: 100 }, (_, i) => (i === 37 ? 1e-4 : 0));
    assert.equal(new Sampler(100, { temperature: 1, topP: 1e-6, seed: 3 }).sample(flat), 37);
  });

  test('top-k keeps exactly the k most likely tokens', () => {
    const l = randomLogits(300, 9);
    const best5 = Array.from(l, (v, i) => [v, i] as const).sort((a, b) => b[0] - a[0]).slice(0, 5).map(([, i]) => i);
    const seen = new Set(draw(new Sampler(300, { temperature: 5, topK: 5, seed: 2 }), l, 500));
    assert.deepEqual([...seen].sort((a, b) => a - b), [...best5].sort((a, b) => a - b));
  });

  test('top-p keeps the smallest set reaching p', () => {
    const l = Float32Array.of(Math.log(0.5), Math.log(0.3), Math.log(0.15), Math.log(0.05));
    const seen = new Set(draw(new Sampler(4, { temperature: 1, topP: 0.75, seed: 4 }), l, 500));
    assert.deepEqual([...seen].sort(), [0, 1]); // 0.5 + 0.3 reaches 0.75; 0.5 alone does not
  });

  test('bad parameters are refused with their values', () => {
    assert.throws(() => new Sampler(10, { temperature: -1 }), /temperature must be a number >= 0, got -1/);
    assert.throws(() => new Sampler(10, { temperature: 1, topP: 0 }), /top-p must be in \(0, 1\], got 0/);
    assert.throws(() => new Sampler(10, { temperature: 1, topK: 1.5 }), /top-k must be an integer >= 0, got 1.5/);
  });
});
