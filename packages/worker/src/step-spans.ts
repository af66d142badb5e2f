// What a traced step did on this rank, span by span: a preallocated ring of (kind, layer, start,
// end) rows in ms from the step's start (the layout of wire's StepReply.spans). Recording costs a
// branch when the step is not traced, and nothing is allocated either way until the reply.
import { encodeSpans, SPAN_FIELDS, SPAN_KINDS, type SpanKind } from '@octoserve/wire';

const KIND_INDEX: Record<SpanKind, number> = Object.fromEntries(SPAN_KINDS.map((k, i) => [k, i])) as Record<SpanKind, number>;

export class StepSpans {
  private readonly ring: Float64Array;
  private readonly capacity: number;
  private origin = 0;
  private next = 0;       // spans written this step (past capacity, the ring keeps the latest)
  /** Whether the current step records its spans. */
  enabled = false;

  /** `capacity`: the spans a step may hold; a step with more keeps its last `capacity`. */
  constructor(capacity: number) {
    this.capacity = Math.max(1, capacity);
    this.ring = new Float64Array(this.capacity * SPAN_FIELDS);
  }

  /** The spans a step of `layers` layers can record with `sequences` attention runs per layer, plus the head. */
  static capacityFor(layers: number, sequences: number): number {
    return layers * (sequences + 3) + 1;
  }

  /** Starts a step at `origin` (performance.now()); `trace` says whether it records. */
  begin(origin: number, trace: boolean): void {
    this.origin = origin;
    this.next = 0;
    this.enabled = trace;
  }

  /** One span, `start` and `end` from performance.now(); layer -1 outside a layer. */
  record(kind: SpanKind, layer: number, start: number, end: number): void {
    if (!this.enabled) return;
    const at = (this.next % this.capacity) * SPAN_FIELDS;
    const r = this.ring;
    r[at] = KIND_INDEX[kind];
    r[at + 1] = layer;
    r[at + 2] = start - this.origin;
    r[at + 3] = end - this.origin;
    this.next++;
  }

  /** The step's spans as reply bytes, oldest first (empty when the step was not traced). */
  encode(): Buffer | undefined {
    if (!this.enabled) return undefined;
    if (this.next <= this.capacity) return encodeSpans(this.ring, this.next);
    // wrapped: rotate so the oldest kept span comes first
    const from = (this.next % this.capacity) * SPAN_FIELDS;
    const ordered = new Float64Array(this.ring.length);
    ordered.set(this.ring.subarray(from));
    ordered.set(this.ring.subarray(0, from), this.ring.length - from);
    return encodeSpans(ordered, this.capacity);
  }
}
