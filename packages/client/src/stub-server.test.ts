// The client's call mechanics against a stub gRPC server of inference.proto and admin.proto:
// streams, idle timeouts, cancelling, server errors and metadata. The stub knows no model.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { adminServices, inferenceServices, PUBLIC_SERVER_OPTIONS, type GenerateEvent, type Job } from '@octoserve/wire';
import { OctoserveClient } from './client.js';
import { OctoserveError } from './errors.js';

/** What the stub saw, for the assertions. */
const seen = { cancelled: [] as string[], metadata: [] as string[], drain: [] as unknown[], states: [] as unknown[] };

const chunk = (ids: number[], text: string): GenerateEvent => ({ tokens: { tokenIds: ids, text } });

const inference: grpc.UntypedServiceImplementation = {
  Generate(call: grpc.ServerWritableStream<{ prompt: string }, GenerateEvent>) {
    seen.metadata.push(String(call.metadata.get('x-octoserve-test')[0] ?? ''));
    call.on('cancelled', () => seen.cancelled.push(`generate:${call.request.prompt}`));
    if (call.request.prompt === 'silent') return; // never answers: the client's idle timeout ends it
    call.write(chunk([10, 11], ' there'));
    call.write(chunk([12], ' was'));
    if (call.request.prompt === 'no-done') { call.end(); return; }
    call.write({ done: { promptTokenIds: [1, 2], tokenIds: [10, 11, 12], text: 'Once there was', finishReason: 'length', stats: { tokens: 3, seed: 7 } } });
    call.end();
  },
  GetJob(call: grpc.ServerUnaryCall<{ id: string }, Job>, callback: grpc.sendUnaryData<Job>) {
    if (call.request.id === 'slow') return; // never answers: cancelled by an AbortSignal
    callback({ code: grpc.status.NOT_FOUND, details: `no job '${call.request.id}'` });
  },
  WatchJob(call: grpc.ServerWritableStream<{ id: string }, Job>) {
    call.on('cancelled', () => seen.cancelled.push(`watch:${call.request.id}`));
    call.write({ id: call.request.id, state: 'JOB_STATE_ACTIVE', text: 'Once' }); // then waits
  },
  ListJobs(call: grpc.ServerUnaryCall<{ states: string[] }, unknown>, callback: grpc.sendUnaryData<unknown>) {
    seen.states.push(call.request.states);
    callback(null, { jobs: [{ id: 'a', state: 'JOB_STATE_COMPLETED', createdMs: 1_700_000_000_000 }], nextPageToken: 'next' });
  },
};

const admin: grpc.UntypedServiceImplementation = {
  Drain(call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) {
    const deadline = call.getDeadline();
    seen.drain.push({ request: call.request, deadlineMs: deadline instanceof Date ? deadline.getTime() - Date.now() : Number(deadline) - Date.now() });
    callback(null, { state: 'drained', inFlight: 0 });
  },
};

let server: grpc.Server;
let client: OctoserveClient;

before(async () => {
  server = new grpc.Server(PUBLIC_SERVER_OPTIONS);
  server.addService(inferenceServices().Inference.service, inference);
  server.addService(adminServices().Admin.service, admin);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  client = new OctoserveClient({ address: `127.0.0.1:${port}`, deadlineMs: 2_000, metadata: { 'x-octoserve-test': 'hello' } });
  await client.waitForReady(2_000);
});

after(() => {
  client.close();
  server.forceShutdown();
});

/** Waits (briefly) until `cond` holds: the server sees a client's cancel a moment after it is sent. */
async function eventually(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond());
}

describe('streams', () => {
  test('complete() returns the Completion and hands each chunk to onTokens; metadata is sent', async () => {
    const chunks: string[] = [];
    const done = await client.complete({ prompt: 'Once' }, { onTokens: (c) => chunks.push(c.text) });
    assert.deepEqual(chunks, [' there', ' was']);
    assert.equal(done.text, 'Once there was');
    assert.deepEqual(done.tokenIds, [10, 11, 12]);
    assert.equal(done.stats?.seed, 7);
    assert.equal(seen.metadata.at(-1), 'hello');
  });

  test('complete() rejects when the stream ends without its final message', async () => {
    await assert.rejects(client.complete({ prompt: 'no-done' }), (err: unknown) =>
      err instanceof OctoserveError && err.codeName === 'INTERNAL' && /ended without its final message/.test(err.message));
  });

  test('a silent stream fails with DEADLINE_EXCEEDED after the idle timeout, and the server sees the cancel', async () => {
    const start = Date.now();
    await assert.rejects((async () => { for await (const _ of client.generate({ prompt: 'silent' }, { idleTimeoutMs: 200 })) assert.fail('no events expected'); })(),
      (err: unknown) => err instanceof OctoserveError && err.codeName === 'DEADLINE_EXCEEDED' && /no message from the cluster for 200 ms/.test(err.message));
    const ms = Date.now() - start;
    assert.ok(ms >= 190 && ms < 1_500, `took ${ms} ms`);
    await eventually(() => seen.cancelled.includes('generate:silent'));
  });

  test('breaking out of a watch loop cancels the call', async () => {
    for await (const job of client.watchJob('j1')) {
      assert.equal(job.state, 'JOB_STATE_ACTIVE');
      break;
    }
    await eventually(() => seen.cancelled.includes('watch:j1'));
  });

  test('an AbortSignal ends a stream with CANCELLED', async () => {
    const controller = new AbortController();
    const got: string[] = [];
    await assert.rejects((async () => {
      for await (const job of client.watchJob('j2', { signal: controller.signal })) { got.push(job.text); controller.abort(); }
    })(), (err: unknown) => err instanceof OctoserveError && err.codeName === 'CANCELLED');
    assert.deepEqual(got, ['Once']);
    await eventually(() => seen.cancelled.includes('watch:j2'));
  });
});

describe('unary calls', () => {
  test("a server error keeps its code and details: NOT_FOUND: no job 'nope' (address)", async () => {
    await assert.rejects(client.getJob('nope'), (err: unknown) =>
      err instanceof OctoserveError && err.message === `NOT_FOUND: no job 'nope' (${client.address})` && err.details === "no job 'nope'");
  });

  test('an AbortSignal cancels a call in flight', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    await assert.rejects(client.getJob('slow', { signal: controller.signal }), (err: unknown) =>
      err instanceof OctoserveError && err.codeName === 'CANCELLED');
  });

  test('listJobs sends states as the proto enum', async () => {
    const page = await client.listJobs({ states: ['waiting', 'failed'] });
    assert.deepEqual(seen.states.at(-1), ['JOB_STATE_WAITING', 'JOB_STATE_FAILED']);
    assert.equal(page.nextPageToken, 'next');
    assert.equal(page.jobs[0]?.createdMs, 1_700_000_000_000);
  });

  test('drain with wait gets a deadline that covers its timeout', async () => {
    await client.drain({ wait: true, timeoutMs: 60_000 });
    await client.drain();
    const [waited, plain] = seen.drain.slice(-2) as { request: { wait: boolean; timeoutMs: number }; deadlineMs: number }[];
    assert.deepEqual(waited?.request, { wait: true, timeoutMs: 60_000 });
    assert.ok(waited!.deadlineMs > 60_000 && waited!.deadlineMs <= 62_000, `deadline ${waited!.deadlineMs} ms`);
    assert.ok(plain!.deadlineMs <= 2_000, `deadline ${plain!.deadlineMs} ms`);
  });
});
