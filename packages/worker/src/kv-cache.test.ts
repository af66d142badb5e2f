import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KvCache } from './kv-cache.js';

const shape = { nLayers: 2, nKvHeads: 2, headDim: 3, maxSeq: 5 };

/** k/v rows whose values encode (token, head, dim) so moves are visible. */
function rows(tokens: number[]): Float32Array {
  return Float32Array.from(tokens.flatMap((t) => [0, 1].flatMap((g) => [0, 1, 2].map((d) => t * 100 + g * 10 + d))));
}
function kAt(c: KvCache, l: number, slot: number, g: number, d: number): number {
  return c.k[l]![(g * shape.maxSeq + slot) * shape.headDim + d]!;
}
function vAt(c: KvCache, l: number, slot: number, g: number, d: number): number {
  return c.v[l]![(g * shape.maxSeq + slot) * shape.headDim + d]!;
}

test('write places keys and values row-major at the next slots', () => {
  const c = new KvCache(shape);
  c.reserve(2); c.write(0, rows([1, 2]), rows([1, 2]), 2); c.commit();
  assert.equal(c.length, 2);
  assert.equal(kAt(c, 0, 1, 1, 2), 212);
  assert.equal(vAt(c, 0, 0, 1, 0), 110);
});

test('compact keeps the accepted candidates in order and drops the rest', () => {
  const c = new KvCache(shape);
  c.reserve(1); for (const l of [0, 1]) c.write(l, rows([9]), rows([9]), 1); c.commit();
  c.reserve(4); for (const l of [0, 1]) c.write(l, rows([3, 4, 5, 6]), rows([3, 4, 5, 6]), 4);
  c.compact([0, 2, 3]);
  assert.equal(c.length, 4);
  assert.deepEqual([1, 2, 3].map((s) => kAt(c, 1, s, 1, 1)), [311, 511, 611]);
  assert.deepEqual([1, 2, 3].map((s) => vAt(c, 1, s, 0, 2)), [302, 502, 602]);
});

test('overflow and bad keep lists are refused with the numbers', () => {
  const c = new KvCache(shape);
  assert.throws(() => c.reserve(6), /needs 6 KV slots; the context holds 5/);
  c.reserve(3);
  assert.throws(() => c.compact([1, 1]), /ascending indices below 3/);
  assert.throws(() => c.compact([3]), /ascending indices below 3/);
});
