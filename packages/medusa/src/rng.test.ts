import assert from 'node:assert/strict';
import { test } from 'node:test';

import { createRng } from './rng.js';

test('createRng: same seed, same sequence; values in [0, 1)', () => {
  const a = createRng(42);
  const b = createRng(42);
  let sum = 0;
  for (let i = 0; i < 10000; i++) {
    const x = a();
    assert.equal(x, b());
    assert.ok(x >= 0 && x < 1, `value ${x}`);
    sum += x;
  }
  assert.ok(Math.abs(sum / 10000 - 0.5) < 0.02, `mean ${sum / 10000}`);
});

test('createRng: different seeds differ, including 0 and 1', () => {
  const first = (seed: number) => Array.from({ length: 4 }, createRng(seed));
  assert.notDeepEqual(first(0), first(1));
  assert.notDeepEqual(first(1), first(2));
  assert.ok(first(0).some((x) => x > 0)); // a zero seed does not stall
});
