// One tensor-parallel rank's part of the Medusa heads: the residual layers whole
// (they are small: dim × dim), each head's projection cut to the rank's vocabulary
// rows like the LM head. Named slices, so a worker reading the heads itself and a
// coordinator streaming them produce the same thing.
//   medusa.{h}.{l}.w  [dim, dim]     medusa.{h}.{l}.b  [1, dim]
//   medusa.{h}.out    [vocab, dim]   (absent when the head uses the base LM head)
import type { Range, ShardSlice } from '@octoserve/wire';
import type { MedusaHeads } from './heads.js';

export function* medusaShardSlices(heads: MedusaHeads, vocab: Range): Generator<ShardSlice> {
  const d = heads.dim;
  for (let h = 0; h < heads.numHeads; h++) {
    for (let l = 0; l < heads.numLayers; l++) {
      const layer = heads.layers[h]?.[l];
      if (layer === undefined) throw new Error(`Medusa head ${h} has no layer ${l}`);
      yield { name: `medusa.${h}.${l}.w`, shape: [d, d], data: layer.w };
      yield { name: `medusa.${h}.${l}.b`, shape: [1, d], data: layer.b };
    }
    const out = heads.output[h];
    if (out !== null && out !== undefined) {
      yield { name: `medusa.${h}.out`, shape: [vocab.end - vocab.start, d], data: out.subarray(vocab.start * d, vocab.end * d) };
    }
  }
}
