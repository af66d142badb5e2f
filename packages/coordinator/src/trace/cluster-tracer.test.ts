import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeSpans } from '@octoserve/wire';
import type { StepReply__Output } from '@octoserve/wire';
import { ChromeTrace, type TraceDocument } from './chrome-trace.js';
import { ClusterTracer } from './cluster-tracer.js';

/** A rank's reply carrying `spans` ([n, 4] as StepReply.spans) for a step of `stepMs`. */
function reply(stepMs: number, spans: number[]): StepReply__Output {
  return { stepMs, computeMs: 0, allreduceMs: 0, spans: encodeSpans(Float64Array.from(spans), spans.length / 4) } as unknown as StepReply__Output;
}

test('a rank\'s step sits halfway through the time its round trip spent outside the worker; the gap before the next is idle', () => {
  const docs: TraceDocument[] = [];
  const trace = new ChromeTrace({ run: 'unit' }, { steps: 2, write: (d) => docs.push(d) });
  const tracer = new ClusterTracer(trace, 'test tp=1', 1);
  const e = trace.epoch;
  // sent at +10 ms, replied at +20 ms, 6 ms on the worker: the step runs from +12 to +18
  tracer.step(1, e + 10, e + 20.5, [reply(6, [0, 0, 0.5, 2, 3, 0, 2, 3, 2, -1, 3, 5.5])], [{ traceSentAt: e + 10, traceRepliedAt: e + 20 }]);
  tracer.coordinator('merge', e + 20.5, e + 21);
  assert.equal(docs.length, 0);
  tracer.step(2, e + 30, e + 40, [reply(4, [])], [{ traceSentAt: e + 30, traceRepliedAt: e + 38 }]);
  assert.equal(docs.length, 1, 'the second step rolls the trace over');
  const events = docs[0]!.traceEvents;
  assert.deepEqual(events.filter((x) => x.name === 'thread_name').map((x) => x.args?.name), ['coordinator', 'rank 0']);
  const spans = events.filter((x) => x.ph === 'X').map((x) => [x.tid, x.cat, x.name, x.ts, x.dur]);
  assert.deepEqual(spans, [
    [0, 'coordinator', 'step', 10_000, 10_500],
    [1, 'step', 'step 1', 12_000, 6_000],
    [1, 'compute', 'L0 attention', 12_500, 1_500],
    [1, 'allreduce', 'L0 all-reduce', 14_000, 1_000],
    [1, 'compute', 'head', 15_000, 2_500],
    [0, 'coordinator', 'merge', 20_500, 500],
    [0, 'coordinator', 'step', 30_000, 10_000],
    [1, 'idle', 'idle', 18_000, 14_000],
    [1, 'step', 'step 2', 32_000, 4_000],
  ]);
  assert.deepEqual(docs[0]!.otherData, { run: 'unit', steps: 2 });
  // what follows starts a new document, with the names again
  tracer.coordinator('merge', e + 41, e + 42);
  const rest = trace.drain().traceEvents;
  assert.equal(rest.filter((x) => x.ph === 'X').length, 1);
  assert.ok(rest.some((x) => x.name === 'process_name' && x.args?.name === 'test tp=1'));
});
