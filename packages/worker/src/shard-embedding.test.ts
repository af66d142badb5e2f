// No rank holds the whole token embedding: the slices a rank reads (or is uploaded) carry only its
// own vocabulary rows of it (for the tokens it chooses in a greedy run), and its shard's weight
// bytes are its layers, the final norm and those rows. With a shared classifier in float32 they are
// the LM head's rows, held once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openCheckpoint } from '@octoserve/model';
import { readShardSlices, shardLayout, type Range, type ShardAssignment, type StepRequest__Output } from '@octoserve/wire';
import { findTestModel } from '@octoserve/testkit';
import { assembleShard } from './shard-loader.js';
import { shardWeightBytes } from './shard-quantize.js';
import { embeddingRows } from './step-codec.js';

function split(n: number, parts: number, part: number): Range {
  const base = Math.floor(n / parts);
  const extra = n % parts;
  const start = part * base + Math.min(part, extra);
  return { start, end: start + base + (part < extra ? 1 : 0) };
}

for (const tp of [1, 2]) {
  test(`tp=${tp}: every rank's shard holds no embedding beyond its own vocabulary rows of a shared classifier`, async () => {
    const ckpt = openCheckpoint((await findTestModel()).modelPath);
    try {
      const c = ckpt.config;
      assert.ok(c.sharedClassifier, 'the test model shares its classifier with the embedding');
      const embedding = ckpt.read('tok_embeddings');
      for (let rank = 0; rank < tp; rank++) {
        const shard: ShardAssignment = {
          rank, tp, heads: split(c.nHeads, tp, rank), kvHeads: split(c.nKvHeads, tp, rank),
          hidden: split(c.hiddenDim, tp, rank), vocab: split(c.vocabSize, tp, rank),
        };
        assert.ok(!shardLayout(c, shard).some((s) => s.name === 'tok_embeddings'));
        assert.deepEqual(shardLayout(c, shard).find((s) => s.name === 'embedding')?.shape, [shard.vocab.end - shard.vocab.start, c.dim]);
        const slices = [...readShardSlices(ckpt, shard)];
        assert.deepEqual(slices.filter((s) => s.name === 'tok_embeddings'), []);
        const weights = assembleShard(c, shard, slices);

        const vocabRows = shard.vocab.end - shard.vocab.start;
        const heads = shard.heads.end - shard.heads.start;
        const kvHeads = shard.kvHeads.end - shard.kvHeads.start;
        const hidden = shard.hidden.end - shard.hidden.start;
        const layerFloats = 2 * c.dim + (heads + 2 * kvHeads) * c.headDim * c.dim + c.dim * heads * c.headDim + 3 * hidden * c.dim;
        const want = 4 * (c.nLayers * layerFloats + c.dim + vocabRows * c.dim);
        assert.equal(shardWeightBytes(weights), want, `rank ${rank} of ${tp}`);

        // the LM head rows are the embedding's rows of this rank's vocabulary, bit for bit
        const wcls = weights.head.wcls as Float32Array;
        assert.deepEqual(wcls, embedding.subarray(shard.vocab.start * c.dim, shard.vocab.end * c.dim));
        assert.equal(weights.embedding, wcls, 'the embedding rows are the LM head\'s, one copy');
      }
    } finally {
      ckpt.close();
    }
  });
}

test('a step is refused unless x holds one float32 row of dim per token', () => {
  const s = { sequenceId: 1, tokens: [3, 4], positions: [0, 1], treeMask: Buffer.alloc(0), reset: true, keepAll: false, keep: [], temperature: 0, uniforms: Buffer.alloc(0) };
  const req = (x: Buffer): Pick<StepRequest__Output, 'sequences' | 'x'> => ({ sequences: [s], x });
  assert.equal(embeddingRows(req(Buffer.alloc(2 * 8 * 4)), 8).length, 16);
  assert.throws(() => embeddingRows(req(Buffer.alloc(8 * 4)), 8), /x holds 32 bytes; 2 rows x 8 float32 expected/);
  assert.throws(() => embeddingRows(req(Buffer.alloc(0)), 8), /x holds 0 bytes/);
});
