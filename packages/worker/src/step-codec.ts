// Between worker.proto step messages and the shard runtime: validation on the way in,
// local → global vocabulary ids on the way out. Tensor fields are raw little-endian bytes.
import type { SequenceStep__Output, StepReply } from '@octoserve/wire';
import type { StepOutputs } from './shard-runtime.js';
import type { Range } from './shard-loader.js';

/** A request the worker cannot run: answered with INVALID_ARGUMENT. */
export class StepInputError extends Error {
  override name = 'StepInputError';
}

/** Little-endian uint32 view of a bytes field (copied when unaligned). */
export function uint32s(bytes: Uint8Array): Uint32Array {
  if (bytes.byteLength % 4 !== 0) throw new StepInputError(`a uint32 field has ${bytes.byteLength} bytes, not a multiple of 4`);
  if (bytes.byteOffset % 4 === 0) return new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  return new Uint32Array(new Uint8Array(bytes).buffer);
}

/** Little-endian float32 view of a bytes field (copied when unaligned). */
export function floats(bytes: Uint8Array): Float32Array {
  if (bytes.byteLength % 4 !== 0) throw new StepInputError(`a float32 field has ${bytes.byteLength} bytes, not a multiple of 4`);
  if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  return new Float32Array(new Uint8Array(bytes).buffer);
}

/** Checks one sequence's part of a step against the model's sizes. */
export function checkSequence(s: SequenceStep__Output, vocabSize: number, maxSeq: number): void {
  const T = s.tokens.length;
  if (T === 0) throw new StepInputError(`sequence ${s.sequenceId}: a step needs at least one token`);
  if (s.positions.length !== T) throw new StepInputError(`sequence ${s.sequenceId}: ${T} tokens but ${s.positions.length} positions`);
  for (const t of s.tokens) if (t >= vocabSize) throw new StepInputError(`sequence ${s.sequenceId}: token id ${t} is outside the vocabulary (${vocabSize})`);
  for (const p of s.positions) if (p >= maxSeq) throw new StepInputError(`sequence ${s.sequenceId}: position ${p} is beyond the context (${maxSeq})`);
  if (s.uniforms.length !== 0 && s.uniforms.length !== 4 * T) {
    throw new StepInputError(`sequence ${s.sequenceId}: uniforms has ${s.uniforms.length} bytes; ${T} tokens need ${4 * T}`);
  }
  if (s.treeMask.length !== 0 && s.treeMask.length !== T * T) {
    throw new StepInputError(`sequence ${s.sequenceId}: tree mask has ${s.treeMask.length} bytes; ${T} tokens need ${T * T}`);
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

function floatBytes(a: Float32Array): Buffer {
  return Buffer.from(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
}

function globalIds(local: BigInt64Array, start: number): Buffer {
  const out = new Uint32Array(local.length);
  for (let i = 0; i < local.length; i++) out[i] = Number(local[i]) + start;
  return Buffer.from(out.buffer);
}

/** The reply of a step: copies (grpc-js sends by reference, and the runtime reuses its buffers). */
export function encodeReply(
  stepId: number, out: StepOutputs, vocab: Range, foreign: Uint8Array | undefined,
  timings: { computeMs: number; allReduceMs: number; allReduces: number }, stepMs: number,
): StepReply {
  const picked = new Float32Array(out.picked);
  if (foreign !== undefined) for (let i = 0; i < picked.length; i++) if (foreign[i] === 1) picked[i] = NaN;
  return {
    stepId, rows: out.rows,
    max: floatBytes(out.max), argmax: globalIds(out.argmax, vocab.start),
    topkValues: floatBytes(out.topkValues), topkIds: globalIds(out.topkIndices, vocab.start),
    sumexp: floatBytes(out.sumexp), sumexpLogit: floatBytes(out.sumexpLogit),
    picked: Buffer.from(picked.buffer),
    computeMs: timings.computeMs, allreduceMs: timings.allReduceMs, allreduces: timings.allReduces, stepMs,
    sample: globalIds(out.sample, vocab.start),
    medusaTopkValues: out.medusaValues === undefined ? Buffer.alloc(0) : floatBytes(out.medusaValues),
    medusaTopkIds: out.medusaIndices === undefined ? Buffer.alloc(0) : globalIds(out.medusaIndices, vocab.start),
  };
}
