import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeSpans, encodeSpans, SPAN_FIELDS, SPAN_KINDS } from './step-reply.js';
import { workerServices } from './services.js';

test('spans round-trip through the reply bytes, in order, only the recorded ones', () => {
  const packed = new Float64Array(8 * SPAN_FIELDS);
  packed.set([0, 0, 0.125, 1.5, 3, 0, 1.5, 2.25, 1, 0, 2.25, 3.0078125, 2, -1, 3.5, 4.75]);
  const bytes = encodeSpans(packed, 4);
  assert.equal(bytes.byteLength, 4 * SPAN_FIELDS * 8);
  assert.deepEqual(decodeSpans(bytes), [
    { kind: 'attention', layer: 0, startMs: 0.125, endMs: 1.5 },
    { kind: 'allreduce', layer: 0, startMs: 1.5, endMs: 2.25 },
    { kind: 'ffn', layer: 0, startMs: 2.25, endMs: 3.0078125 },
    { kind: 'head', layer: -1, startMs: 3.5, endMs: 4.75 },
  ]);
  assert.deepEqual(decodeSpans(encodeSpans(packed, 0)), []);
  assert.throws(() => encodeSpans(packed, 9), RangeError);
});

test('the spans field survives the StepReply wire format, and malformed spans are refused', () => {
  const packed = Float64Array.of(SPAN_KINDS.indexOf('ffn'), 7, 10.5, 11.25);
  const steps = workerServices().Worker.service.Steps;
  const back = steps.responseDeserialize(steps.responseSerialize({ stepId: 1, spans: encodeSpans(packed, 1) })) as { spans: Buffer };
  assert.deepEqual(decodeSpans(back.spans), [{ kind: 'ffn', layer: 7, startMs: 10.5, endMs: 11.25 }]);
  const req = steps.requestDeserialize(steps.requestSerialize({ stepId: 1, trace: true })) as { trace: boolean };
  assert.equal(req.trace, true);
  assert.throws(() => decodeSpans(new Uint8Array(24)), /multiple of 32/);
  assert.throws(() => decodeSpans(encodeSpans(Float64Array.of(9, 0, 0, 1), 1)), /kind 9/);
});
