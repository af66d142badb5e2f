// A step as the worker takes it in: each sequence's part checked against the model's sizes, and
// the coordinator's picked ids mapped to this rank's vocabulary rows. The reply's codec is
// @octoserve/wire's (encodeStepReply), shared with the coordinator that decodes it.
import { float32View, RpcError, type Range, type SequenceStep__Output, type StepRequest__Output } from '@octoserve/wire';

/** A step the worker cannot run: INVALID_ARGUMENT with what is wrong. */
export const invalidStep = RpcError.invalid;

/** Checks one sequence's part of a step against the model's sizes. */
export function checkSequence(s: SequenceStep__Output, vocabSize: number, maxSeq: number): void {
  const T = s.tokens.length;
  if (T === 0) throw invalidStep(`sequence ${s.sequenceId}: a step needs at least one token`);
  if (s.positions.length !== T) throw invalidStep(`sequence ${s.sequenceId}: ${T} tokens but ${s.positions.length} positions`);
  for (const t of s.tokens) if (t >= vocabSize) throw invalidStep(`sequence ${s.sequenceId}: token id ${t} is outside the vocabulary (${vocabSize})`);
  for (const p of s.positions) if (p >= maxSeq) throw invalidStep(`sequence ${s.sequenceId}: position ${p} is beyond the context (${maxSeq})`);
  if (s.uniforms.length !== 0 && s.uniforms.length !== 4 * T) {
    throw invalidStep(`sequence ${s.sequenceId}: uniforms has ${s.uniforms.length} bytes; ${T} tokens need ${4 * T}`);
  }
  if (s.treeMask.length !== 0 && s.treeMask.length !== T * T) {
    throw invalidStep(`sequence ${s.sequenceId}: tree mask has ${s.treeMask.length} bytes; ${T} tokens need ${T * T}`);
  }
}

/**
 * Maps the coordinator's global picked ids [rows, maxPicked] to this rank's rows:
 * `local` gets the row index (0 for ids another rank owns), `foreign` marks those.
 */
export function localPicked(ids: Uint32Array, vocab: Range, local: BigInt64Array, foreign: Uint8Array): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i] as number;
    const mine = id >= vocab.start && id < vocab.end;
    local[i] = mine ? BigInt(id - vocab.start) : 0n;
    foreign[i] = mine ? 0 : 1;
  }
}

/** The step's x [rows, dim] float32 (one embedding row per token, in request order), checked against its token count. */
export function embeddingRows(req: Pick<StepRequest__Output, 'sequences' | 'x'>, dim: number): Float32Array {
  let rows = 0;
  for (const s of req.sequences) rows += s.tokens.length;
  if (req.x.length !== 4 * rows * dim) throw invalidStep(`x holds ${req.x.length} bytes; ${rows} rows x ${dim} float32 expected`);
  return float32View(req.x);
}
