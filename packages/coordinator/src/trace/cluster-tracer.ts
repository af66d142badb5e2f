// One cluster's part of a ChromeTrace: each step's round trip on the coordinator thread, and
// each rank's step with its spans (wire's StepReply.spans) on the rank's thread.
//
// Clock alignment. A rank's spans are times from its own step start, on its own clock. The
// coordinator knows when it sent the rank the step and when the reply came back; the rank
// says how long the step took there. The step is placed at
//   sent + (round trip − worker step) / 2
// i.e. the time on the wire and in gRPC is taken to be the same both ways. That is an
// approximation (the request carries the step, the reply the rows; a busy event loop delays
// either); the coordinator's own spans are exact. Should a placed step start before the
// rank's previous one ended, it is pushed back to that end so the rank's thread stays ordered.
import { decodeSpans } from '@octoserve/wire';
import type { StepReply__Output } from '@octoserve/wire';
import { ChromeTrace, COORDINATOR_TID, rankTid } from './chrome-trace.js';

/** When the coordinator sent a rank its step and when the rank's reply arrived (performance.now()). */
export interface RankRoundTrip {
  readonly traceSentAt: number;
  readonly traceRepliedAt: number;
}

/** What the decode loops record on the coordinator's thread. */
export interface StepTracer {
  /** A coordinator span (performance.now() times): 'merge', 'verify', ... */
  coordinator(name: string, start: number, end: number, args?: Record<string, unknown>): void;
}

const SEGMENT_CATEGORY = { attention: 'compute', ffn: 'compute', head: 'compute', allreduce: 'allreduce', stack: 'compute' } as const;

export class ClusterTracer implements StepTracer {
  private readonly pid: number;
  /** Where each rank's last step ended on the coordinator's timeline (NaN before its first). */
  private readonly lastEnd: number[];

  constructor(readonly trace: ChromeTrace, label: string, readonly tp: number) {
    this.pid = trace.process(label, ['coordinator', ...Array.from({ length: tp }, (_, r) => `rank ${r}`)]);
    this.lastEnd = new Array<number>(tp).fill(NaN);
  }

  coordinator(name: string, start: number, end: number, args?: Record<string, unknown>): void {
    this.trace.span(this.pid, COORDINATOR_TID, 'coordinator', name, start, end, args);
  }

  /** One cluster step: sent at `start`, every reply in by `end`; `rounds[r]` rank r's send and reply times. */
  step(stepId: number, start: number, end: number, replies: readonly StepReply__Output[], rounds: readonly RankRoundTrip[]): void {
    this.coordinator('step', start, end, { step: stepId, ranks: replies.length });
    replies.forEach((reply, r) => {
      const round = rounds[r];
      if (round === undefined) return;
      const roundTrip = round.traceRepliedAt - round.traceSentAt;
      let at = round.traceSentAt + Math.max(0, roundTrip - reply.stepMs) / 2;
      const prev = this.lastEnd[r] as number;
      if (!Number.isNaN(prev)) {
        at = Math.max(at, prev);
        if (at > prev) this.trace.span(this.pid, rankTid(r), 'idle', 'idle', prev, at);
      }
      const tid = rankTid(r);
      this.trace.span(this.pid, tid, 'step', `step ${stepId}`, at, at + reply.stepMs, {
        step: stepId, compute_ms: reply.computeMs, allreduce_ms: reply.allreduceMs, round_trip_ms: roundTrip,
      });
      for (const s of decodeSpans(reply.spans)) {
        const name = s.layer < 0 ? s.kind : s.kind === 'allreduce' ? `L${s.layer} all-reduce` : `L${s.layer} ${s.kind}`;
        this.trace.span(this.pid, tid, SEGMENT_CATEGORY[s.kind], name, at + s.startMs, at + s.endMs, s.layer < 0 ? undefined : { layer: s.layer });
      }
      this.lastEnd[r] = at + reply.stepMs;
    });
    this.trace.stepDone();
  }
}

/** medusaGenerate's onVerify recording each tree verification on the coordinator's thread (undefined: not traced). */
export function verifySpans(tracer: StepTracer | undefined): ((start: number, end: number, accepted: number) => void) | undefined {
  return tracer === undefined ? undefined : (start, end, accepted) => tracer.coordinator('verify', start, end, { accepted });
}
