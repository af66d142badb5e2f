// The collective fabric end to end: a cluster whose ranks all-reduce over framed sockets gives
// the golden tokens like one on gRPC streams, and a worker that speaks another fabric than the
// cluster is refused at start with a message that says which flag to give it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, ClusterTokenSource } from '@octoserve/coordinator';
import { generateFrom } from '@octoserve/model';
import { findTestModel, loadGoldenCases, type GoldenCase } from '@octoserve/testkit';
import { WORKER_COMMAND, runCli } from './helpers.js';

const model = await findTestModel();
const cases: GoldenCase[] = loadGoldenCases(model);

for (const fabric of ['shm', 'socket', 'grpc'] as const) {
  test(`generate --tp 4 --fabric ${fabric} reproduces run.c`, async () => {
    const c = cases[1] as GoldenCase;
    const r = await runCli(['generate', '--tp', '4', '--fabric', fabric, '--prompt', c.prompt, '--max-tokens', String(c.generated_token_ids.length), '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((JSON.parse(r.stdout) as { token_ids: number[] }).token_ids, c.generated_token_ids);
  });
}

test('a cluster on the socket fabric: steps report the algorithm, tokens are exact at tp=8', async () => {
  const cluster = await Cluster.start({ modelPath: model.modelPath, tp: 8, workerCommand: WORKER_COMMAND, fabric: 'socket' });
  try {
    const c = cases[3] as GoldenCase;
    const source = new ClusterTokenSource(cluster, 1, { temperature: 0 });
    const out = await generateFrom(source, c.prompt_token_ids, { maxTokens: 40, stopIds: [1, 2] });
    assert.deepEqual(out.tokenIds, c.generated_token_ids.slice(0, 40));
    const step = await cluster.step([{ sequenceId: 2, tokens: [1], positions: [0], treeMask: Buffer.alloc(0), reset: true, keepAll: false, keep: [], temperature: 0, uniforms: Buffer.alloc(0) }]);
    assert.match(step.allReduceAlgorithm, /^(ring|oneshot|twoshot|tree|star|doubling)$/, 'the socket fabric sends messages');
    assert.equal(step.allReduceBytes, 64 * 4, 'one row of dim 64 per all-reduce');
  } finally {
    await cluster.close();
  }
});

test('a worker on another fabric than the cluster is refused at start, naming the flag', async () => {
  const started = Cluster.start({ modelPath: model.modelPath, tp: 2, workerCommand: [...WORKER_COMMAND, '--fabric', 'grpc'], fabric: 'socket', startTimeoutMs: 20_000 });
  await assert.rejects(started, /speaks the grpc fabric; the cluster runs socket: start the worker with --fabric socket/);
});

test('a cluster on the shm fabric (the default): its steps all-reduce through shared memory, tokens are exact at tp=8', async () => {
  const cluster = await Cluster.start({ modelPath: model.modelPath, tp: 8, workerCommand: WORKER_COMMAND, fabric: 'shm' });
  try {
    const c = cases[2] as GoldenCase;
    const out = await generateFrom(new ClusterTokenSource(cluster, 1, { temperature: 0 }), c.prompt_token_ids, { maxTokens: 40, stopIds: [1, 2] });
    assert.deepEqual(out.tokenIds, c.generated_token_ids.slice(0, 40));
    const step = await cluster.step([{ sequenceId: 2, tokens: [1], positions: [0], treeMask: Buffer.alloc(0), reset: true, keepAll: false, keep: [], temperature: 0, uniforms: Buffer.alloc(0) }]);
    assert.equal(step.allReduceAlgorithm, 'shm');
  } finally {
    await cluster.close();
  }
});
