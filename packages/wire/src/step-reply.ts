// The answer of one rank to one step (worker.proto StepReply), encoded on the worker and decoded
// on the coordinator by this one codec. Vocabulary-parallel: a rank answers for its own rows of
// the LM head and Medusa heads only; the coordinator merges the ranks' answers exactly.
//
// Row layout: a step's rows are its sequences' tokens in order. Per row a rank returns
//   max, argmax              its largest logit and its id                        [rows]
//   topkValues, topkIds      its top-k logits, descending                        [rows, k]
//   sumexp, sumexpLogit      Σ exp(s − m) and Σ exp(s − m)·s, s = logit / T      [rows]
//   picked                   the logits of the ids the coordinator named          [rows, maxPicked]
//                            (NaN where another rank owns the id)
//   sample                   a draw from softmax(s) over its rows                 [rows]
//   medusaValues, medusaIds  each Medusa head's top-k, head-major:                [rows, heads, medusaTopK]
//                            row r, head h, rank j at (r·heads + h)·medusaTopK + j
// Tensor fields are raw little-endian bytes; ids on the wire are global vocabulary ids.
import * as grpc from '@grpc/grpc-js';
import type { StepReply, StepReply__Output } from './gen/octoserve/v1/StepReply.js';
import { RpcError } from './rpc-error.js';
import type { Range } from './shard-layout.js';

/** What a rank's runtime computed for a step's rows, with ids local to its vocabulary range. */
export interface LocalStepRows {
  rows: number;
  max: Float32Array;              // [rows]
  argmax: BigInt64Array;          // [rows] local row index
  topkValues: Float32Array;       // [rows, topK]
  topkIndices: BigInt64Array;     // [rows, topK] local row indices
  sumexp: Float32Array;           // [rows]
  sumexpLogit: Float32Array;      // [rows]
  picked: Float32Array;           // [rows, maxPicked]
  sample: BigInt64Array;          // [rows] local row index
  medusaValues?: Float32Array;    // [rows, heads, medusaTopK] (head-major, see above)
  medusaIndices?: BigInt64Array;  // [rows, heads, medusaTopK] local row indices
}

/** One rank's answer for all rows of a step, decoded: what the coordinator merges. */
export interface RankRows {
  max: Float32Array;          // [rows]
  argmax: Uint32Array;        // [rows] global ids
  topkValues: Float32Array;   // [rows, k]
  topkIds: Uint32Array;       // [rows, k] global ids
  sumexp: Float32Array;       // [rows]
  sumexpLogit: Float32Array;  // [rows]
  picked: Float32Array;       // [rows, maxPicked], NaN where another rank owns the id
  sample: Uint32Array;        // [rows] global id
  medusaValues: Float32Array; // [rows, heads, medusaTopK] (empty without Medusa heads)
  medusaIds: Uint32Array;     // [rows, heads, medusaTopK] global ids
}

/** Where the step's time went on the rank (the runtime's running totals). */
export interface StepReplyTimings {
  computeMs: number;
  allReduceMs: number;
  allReduces: number;
  /** The algorithm the step's all-reduces ran and the bytes each carried (every one of a step has the same size). */
  allReduceAlgorithm: string;
  allReduceBytes: number;
}

function fourByteMultiple(bytes: Uint8Array, what: string): number {
  if (bytes.byteLength % 4 !== 0) throw new RpcError(grpc.status.INVALID_ARGUMENT, `a ${what} field has ${bytes.byteLength} bytes, not a multiple of 4`);
  return bytes.byteLength / 4;
}

/** A little-endian float32 view of a bytes field; copied when unaligned (received Buffers may share a pool). */
export function float32View(bytes: Uint8Array): Float32Array {
  const n = fourByteMultiple(bytes, 'float32');
  if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, n);
  return new Float32Array(new Uint8Array(bytes).buffer);
}

/** A little-endian uint32 view of a bytes field; copied when unaligned. */
export function uint32View(bytes: Uint8Array): Uint32Array {
  const n = fourByteMultiple(bytes, 'uint32');
  if (bytes.byteOffset % 4 === 0) return new Uint32Array(bytes.buffer, bytes.byteOffset, n);
  return new Uint32Array(new Uint8Array(bytes).buffer);
}

/** The spans field of an untraced step. */
const NO_SPANS = Buffer.alloc(0);

/** A copy of `a`'s bytes: grpc-js sends a Buffer by reference, and the runtime reuses its arrays. */
function floatBytes(a: Float32Array): Buffer {
  return Buffer.from(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
}

function globalIds(local: BigInt64Array, start: number): Buffer {
  const out = new Uint32Array(local.length);
  for (let i = 0; i < local.length; i++) out[i] = Number(local[i]) + start;
  return Buffer.from(out.buffer);
}

/**
 * The reply of a step: local ids become global ids (`vocab.start` added), and picked logits of
 * ids another rank owns (`foreign[i] === 1`) become NaN.
 */
export function encodeStepReply(
  stepId: number, out: LocalStepRows, vocab: Range, foreign: Uint8Array | undefined, timings: StepReplyTimings, stepMs: number, spans?: Uint8Array,
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
    allreduceAlgorithm: timings.allReduceAlgorithm, allreduceBytes: timings.allReduceBytes,
    sample: globalIds(out.sample, vocab.start),
    medusaTopkValues: out.medusaValues === undefined ? Buffer.alloc(0) : floatBytes(out.medusaValues),
    medusaTopkIds: out.medusaIndices === undefined ? Buffer.alloc(0) : globalIds(out.medusaIndices, vocab.start),
    spans: spans ?? NO_SPANS,
  };
}

/** A rank's reply as views of its bytes fields. */
export function decodeStepReply(r: StepReply__Output): RankRows {
  return {
    max: float32View(r.max), argmax: uint32View(r.argmax), topkValues: float32View(r.topkValues), topkIds: uint32View(r.topkIds),
    sumexp: float32View(r.sumexp), sumexpLogit: float32View(r.sumexpLogit), picked: float32View(r.picked),
    sample: uint32View(r.sample), medusaValues: float32View(r.medusaTopkValues), medusaIds: uint32View(r.medusaTopkIds),
  };
}

/**
 * A traced step's spans (StepReply.spans): [n, 4] float64 little-endian, each span
 * (kind, layer, start_ms, end_ms) with times from the start of the step on the worker. The
 * kind is an index into SPAN_KINDS; layer is -1 for spans outside a layer (the head, and the stack:
 * a single rank's whole step as one graph).
 */
export const SPAN_KINDS = ['attention', 'ffn', 'head', 'allreduce', 'stack'] as const;
export type SpanKind = (typeof SPAN_KINDS)[number];
export const SPAN_FIELDS = 4;

export interface StepSpan {
  kind: SpanKind;
  layer: number;
  startMs: number;
  endMs: number;
}

/** The first `count` spans of `packed` ([capacity, 4] as above, in order) as reply bytes (a copy). */
export function encodeSpans(packed: Float64Array, count: number): Buffer {
  const n = count * SPAN_FIELDS;
  if (n > packed.length) throw new RangeError(`${count} spans do not fit in ${packed.length / SPAN_FIELDS}`);
  const out = Buffer.alloc(8 * n);
  for (let i = 0; i < n; i++) out.writeDoubleLE(packed[i] as number, 8 * i);
  return out;
}

/** A reply's spans field, decoded (empty when the step was not traced). */
export function decodeSpans(bytes: Uint8Array): StepSpan[] {
  if (bytes.byteLength % (8 * SPAN_FIELDS) !== 0) throw new RpcError(grpc.status.INVALID_ARGUMENT, `a spans field has ${bytes.byteLength} bytes, not a multiple of ${8 * SPAN_FIELDS}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const spans: StepSpan[] = [];
  for (let o = 0; o < bytes.byteLength; o += 8 * SPAN_FIELDS) {
    const kind = SPAN_KINDS[view.getFloat64(o, true)];
    if (kind === undefined) throw new RpcError(grpc.status.INVALID_ARGUMENT, `a span has kind ${view.getFloat64(o, true)}; known: 0-${SPAN_KINDS.length - 1}`);
    spans.push({ kind, layer: view.getFloat64(o + 8, true), startMs: view.getFloat64(o + 16, true), endMs: view.getFloat64(o + 24, true) });
  }
  return spans;
}
