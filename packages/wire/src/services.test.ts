import { test } from 'node:test';
import assert from 'node:assert/strict';
import { workerServices } from './services.js';

test('worker.proto loads with every Worker and Registry method', () => {
  const v1 = workerServices();
  assert.deepEqual(Object.keys(v1.Worker.service).sort(), ['Health', 'InitCommunicator', 'LoadShard', 'Release', 'Steps', 'UploadShard']);
  assert.deepEqual(Object.keys(v1.Registry.service), ['Register']);
  assert.equal(v1.Worker.service.Steps.requestStream, true);
  assert.equal(v1.Worker.service.Steps.responseStream, true);
});

test('a step reply round-trips its raw tensor bytes and 64-bit ids as numbers', () => {
  const steps = workerServices().Worker.service.Steps;
  const max = Buffer.from(Float32Array.of(1.5, -2).buffer);
  const bytes = steps.responseSerialize({ stepId: 2 ** 40, rows: 2, max, computeMs: 0.25 });
  const back = steps.responseDeserialize(bytes) as { stepId: number; rows: number; max: Buffer; computeMs: number; argmax: Buffer };
  assert.equal(back.stepId, 2 ** 40);
  assert.equal(back.rows, 2);
  assert.deepEqual([...new Float32Array(new Uint8Array(back.max).buffer)], [1.5, -2]);
  assert.equal(back.computeMs, 0.25);
  assert.equal(back.argmax.length, 0, 'absent bytes fields decode as empty');
});
