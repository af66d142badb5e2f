// Merges the ranks' vocabulary-parallel answers for each row into what the decode
// loop needs: global argmax, top-k, log-sum-exp and entropy (exact across shards),
// and the logits of named tokens. No rank ever ships full logits.
import type { RankRows } from '@octoserve/wire';

/** Global argmax of `row`: the largest logit, the lowest id among equals (as a single process would pick). */
export function mergedArgmax(ranks: readonly RankRows[], row: number): { id: number; logit: number } {
  let id = -1;
  let logit = -Infinity;
  for (const r of ranks) {
    const m = r.max[row] as number;
    const a = r.argmax[row] as number;
    if (m > logit || (m === logit && a < id) || id < 0) { logit = m; id = a; }
  }
  return { id, logit };
}

/**
 * log Σ_v exp(s_v) and the entropy H = −Σ p log p of softmax(s) over the whole vocabulary,
 * from each rank's pieces: with M = max over ranks of the scaled max m_r,
 *   Z = Σ_r e^(m_r − M) S_r,   E[s] = Σ_r e^(m_r − M) L_r / Z,   lse = M + log Z,   H = lse − E[s]
 * where S_r = Σ exp(s − m_r) and L_r = Σ exp(s − m_r)·s on rank r.
 */
export function mergedSoftmaxStats(ranks: readonly RankRows[], row: number, invTemperature = 1): { logSumExp: number; entropy: number } {
  let M = -Infinity;
  for (const r of ranks) M = Math.max(M, (r.max[row] as number) * invTemperature);
  let z = 0;
  let zl = 0;
  for (const r of ranks) {
    const w = Math.exp((r.max[row] as number) * invTemperature - M);
    z += w * (r.sumexp[row] as number);
    zl += w * (r.sumexpLogit[row] as number);
  }
  const logSumExp = M + Math.log(z);
  return { logSumExp, entropy: logSumExp - zl / z };
}

/**
 * k-way merge of the ranks' sorted local lists at `offset`: the k best (value, id) by value
 * descending then id ascending into outIds/outValues (from outOffset); k ≤ ranks × localK.
 * `cursor` is scratch of at least ranks.length.
 */
function mergeSorted(
  ranks: readonly RankRows[], lists: (r: RankRows) => [Float32Array, Uint32Array], offset: number, localK: number,
  k: number, outIds: Uint32Array | Int32Array, outValues: Float32Array | undefined, outOffset: number, cursor: Int32Array,
): void {
  cursor.fill(0, 0, ranks.length);
  for (let n = 0; n < k; n++) {
    let best = -1;
    let bv = -Infinity;
    let bid = 0;
    for (let r = 0; r < ranks.length; r++) {
      const c = cursor[r] as number;
      if (c >= localK) continue;
      const [values, ids] = lists(ranks[r] as RankRows);
      const v = values[offset + c] as number;
      const id = ids[offset + c] as number;
      if (best < 0 || v > bv || (v === bv && id < bid)) { best = r; bv = v; bid = id; }
    }
    if (best < 0) throw new Error(`top-${k} needs more candidates than the ranks returned (${ranks.length} x ${localK})`);
    outIds[outOffset + n] = bid;
    if (outValues !== undefined) outValues[outOffset + n] = bv;
    cursor[best] = (cursor[best] as number) + 1;
  }
}
const baseLists = (r: RankRows): [Float32Array, Uint32Array] => [r.topkValues, r.topkIds];
const medusaLists = (r: RankRows): [Float32Array, Uint32Array] => [r.medusaValues, r.medusaIds];

/**
 * The k best (logit, id) of `row` across ranks into `outIds`/`outLogits`, by logit
 * descending then id ascending; k ≤ each rank's top-k. `cursor` (one slot per rank) is the
 * caller's scratch, so a decode loop allocates nothing per step.
 */
export function mergedTopK(
  ranks: readonly RankRows[], row: number, k: number, localK: number, outIds: Uint32Array, outLogits: Float32Array,
  cursor: Int32Array = new Int32Array(ranks.length),
): void {
  mergeSorted(ranks, baseLists, row * localK, localK, k, outIds, outLogits, 0, cursor);
}

/** Medusa head `head`'s k best token ids at `row` across ranks into out[outOffset, outOffset + k). */
export function mergedHeadTopK(
  ranks: readonly RankRows[], row: number, head: number, heads: number, localK: number, k: number, out: Int32Array, outOffset: number,
  cursor: Int32Array = new Int32Array(ranks.length),
): void {
  mergeSorted(ranks, medusaLists, (row * heads + head) * localK, localK, k, out, undefined, outOffset, cursor);
}

/**
 * An exact draw from softmax(l / T) over the whole vocabulary: rank r is chosen with
 * probability equal to its share of the mass, Z_r / Z with Z_r = e^(m_r/T − M) S_r (u picks it),
 * and its own draw within its rows (made with a uniform of its own) is taken:
 * P(v) = (Z_r / Z) · (e^(l_v/T) / Z_r) = e^(l_v/T) / Z.
 */
export function mergedSample(ranks: readonly RankRows[], row: number, invTemperature: number, u: number): number {
  let M = -Infinity;
  for (const r of ranks) M = Math.max(M, (r.max[row] as number) * invTemperature);
  let z = 0;
  for (const r of ranks) z += Math.exp((r.max[row] as number) * invTemperature - M) * (r.sumexp[row] as number);
  let acc = 0;
  const target = u * z;
  for (const r of ranks) {
    acc += Math.exp((r.max[row] as number) * invTemperature - M) * (r.sumexp[row] as number);
    if (target < acc) return r.sample[row] as number;
  }
  return (ranks.at(-1) as RankRows).sample[row] as number;
}

/** The logit of picked slot j of `row`: the value from the rank that owns the id. */
export function mergedPicked(ranks: readonly RankRows[], row: number, j: number, maxPicked: number): number {
  for (const r of ranks) {
    const v = r.picked[row * maxPicked + j] as number;
    if (!Number.isNaN(v)) return v;
  }
  return NaN;
}
