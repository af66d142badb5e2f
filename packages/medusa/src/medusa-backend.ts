// What the Medusa decode loop needs from whatever runs the model: the single-process reference
// (reference-backend.ts) or a tensor-parallel cluster whose workers hold the LM head and the
// Medusa heads vocab-parallel and never ship full logits.
//
// One backend serves one sequence at a time. Per step it gets the step's tokens, positions, tree
// mask and which of the previous step's KV slots to keep, and fills a MedusaStepOutputs with
// exactly what verification reads: per row the base argmax, each head's top-k and, for typical
// acceptance, the softmax statistics and the logit of the row's own token at its parent row. Every
// quantity merges exactly across vocabulary shards: argmax and top-k by comparing the shards'
// local winners, log-sum-exp and entropy from per-shard (max, sum e^z, sum z e^z), and a named
// logit from the shard that owns the token.

/**
 * How the previous step's new KV slots are resolved before this step runs:
 * - 'reset': start a new sequence (drop every slot; this step's tokens start at slot 0);
 * - 'all': keep them all (after a prefill or a plain step);
 * - ascending indices into the previous step's tokens: keep those, moved down in order (the
 *   accepted path of a Medusa tree), and drop the rest.
 */
export type KeepSlots = 'all' | 'reset' | Int32Array;

/** What typical acceptance needs per row; the decode loop sets temperature and parents once. */
export interface TypicalStepOutputs {
  /** T > 0: p = softmax(z / T) with z a row's raw base logits. Set by the loop. */
  readonly temperature: number;
  /** [rows] row c's parent row in the step (-1: none, e.g. the root). Set by the loop. */
  readonly parents: Int32Array;
  /** [rows] z_{parents[c]}[tokens[c]]: the raw logit of row c's token at its parent (0 when parents[c] = -1). */
  readonly childLogits: Float64Array;
  /** [rows] log sum_v exp(z_v / T). */
  readonly logSumExp: Float64Array;
  /** [rows] H(p) = -sum_v p_v log p_v, nats. */
  readonly entropy: Float64Array;
}

/** Per-row results of one step, preallocated by the loop for its largest step (createStepOutputs). */
export interface MedusaStepOutputs {
  /** Rows every buffer holds. */
  readonly rows: number;
  /** Heads to report (heads 0..numHeads-1; the tree's depth, which may be fewer than the backend has). */
  readonly numHeads: number;
  /** Guesses per head per row, best first. */
  readonly topK: number;
  /** [rows] argmax_v z[v] of the base LM head (lowest id among equals). */
  readonly baseArgmax: Int32Array;
  /** [rows, numHeads, topK] the top-k token ids of each head at each row (lowest id among equals). */
  readonly headTopK: Int32Array;
  /** Filled only for typical acceptance; null for greedy. */
  readonly typical: TypicalStepOutputs | null;
}

export interface MedusaBackend {
  /** KV slots one sequence can hold. */
  readonly maxSeqLen: number;
  /** Medusa heads the backend serves (a tree may use fewer). */
  readonly numHeads: number;
  /**
   * Resolves the previous step's pending slots by `keep`, then runs T = tokens.length tokens:
   * token i at positions[i] ([T] int32), its K/V at the next free slot (pending until the next
   * step's `keep`). With `mask` ([T, T] uint8 row-major, mask[i*T + j] = 1 iff token i attends to
   * token j; every row holds its diagonal and j <= i only) each token attends to the kept past
   * and its masked tokens; rows 0..T-1 of `out` are filled. Without `mask` the tokens are causal
   * (a prefill) and only the last token's results are returned, in row 0.
   */
  step(tokens: Int32Array, positions: Int32Array, mask: Uint8Array | undefined, keep: KeepSlots, out: MedusaStepOutputs): void | Promise<void>;
  /**
   * Typical acceptance's bonus draw: the token v whose interval of the cumulative distribution of
   * softmax(z / T) at row `row` of the last step contains u in [0, 1) (the smallest v with
   * sum_{w <= v} p_w > u), T = the last step's out.typical.temperature.
   */
  sample(row: number, u: number): number | Promise<number>;
}

/** Buffers for steps of up to `rows` tokens (a prefill uses row 0 only). */
export function createStepOutputs(rows: number, numHeads: number, topK: number, typical: { temperature: number; parents: ArrayLike<number> } | null): MedusaStepOutputs {
  if (!(Number.isInteger(rows) && rows >= 1 && Number.isInteger(topK) && topK >= 1)) {
    throw new Error(`step outputs need rows >= 1 and topK >= 1, got ${rows} and ${topK}`);
  }
  let t: TypicalStepOutputs | null = null;
  if (typical !== null) {
    if (!(typical.temperature > 0 && Number.isFinite(typical.temperature))) throw new Error(`typical acceptance needs a temperature > 0, got ${typical.temperature}`);
    const parents = new Int32Array(rows).fill(-1);
    parents.set(Array.from(typical.parents).slice(0, rows));
    t = { temperature: typical.temperature, parents, childLogits: new Float64Array(rows), logSumExp: new Float64Array(rows), entropy: new Float64Array(rows) };
  }
  return { rows, numHeads, topK, baseArgmax: new Int32Array(rows), headTopK: new Int32Array(rows * numHeads * topK), typical: t };
}
