import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SequenceStep } from '@octoserve/wire';
import { StepEmbedding } from './step-embedding.js';

const seq = (tokens: number[]): SequenceStep => ({ sequenceId: 1, tokens, positions: tokens.map((_, i) => i) });

test("a step's rows are its tokens' embedding rows in order, in one buffer reused step after step", () => {
  const dim = 3;
  const table = Float32Array.from({ length: 5 * dim }, (_, i) => i + 0.5);
  const emb = new StepEmbedding(table, dim, 4);
  const x = emb.rows([seq([4, 0]), seq([2])]);
  assert.deepEqual([...new Float32Array(x.buffer, x.byteOffset, x.length / 4)], [12.5, 13.5, 14.5, 0.5, 1.5, 2.5, 6.5, 7.5, 8.5]);
  // a second step sent before the first is answered gets rows of its own
  const y = emb.rows([seq([1])]);
  assert.notEqual(y.buffer, x.buffer);
  assert.deepEqual([...new Float32Array(y.buffer, y.byteOffset, 3)], [3.5, 4.5, 5.5]);
  emb.done(y);
  emb.done(x);
  const z = emb.rows([seq([3])]);
  assert.equal(z.buffer, x.buffer);
  assert.equal(z.length, 12);
  // more rows than the buffer holds: rows of their own too
  assert.equal(emb.rows([seq([0, 1, 2, 3, 4])]).length, 5 * dim * 4);
});
