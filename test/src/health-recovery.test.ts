// grpc.health.v1 while the cluster comes back from a fault: a worker is killed, and the Inference
// service is NOT_SERVING while the supervisor restarts the cluster, then SERVING again; the
// process as a whole ('') stays SERVING throughout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { Cluster, CoordinatorServer, MemoryJobQueue, SupervisedCluster } from '@octoserve/coordinator';
import { openModel } from '@octoserve/model';
import { WORKER_COMMAND } from './helpers.js';
import { findTestModel, type TestModel } from '@octoserve/testkit';

const model: TestModel = await findTestModel();
const HealthClient = grpc.makeClientConstructor(healthService as unknown as grpc.ServiceDefinition, 'grpc.health.v1.Health');
type Watcher = { Watch(req: { service: string }): grpc.ClientReadableStream<{ status: string }> };

test('the Inference service is NOT_SERVING while the cluster restarts after a fault, then SERVING', { timeout: 120_000 }, async () => {
  const { tokenizer, checkpoint } = await openModel({ model: model.modelPath });
  checkpoint.close();
  const cluster = await SupervisedCluster.start({ start: (onFailure) => Cluster.start({ modelPath: model.modelPath, tp: 2, workerCommand: WORKER_COMMAND, onFailure }) });
  const server = await CoordinatorServer.start({
    cluster, tokenizer, queue: new MemoryJobQueue(), host: '127.0.0.1', port: 0, modelPath: model.modelPath, adminToken: 'test', adminTokenHint: 'the test knows it',
  });
  const health = new HealthClient(server.address, grpc.credentials.createInsecure()) as unknown as grpc.Client & Watcher;
  try {
    const seen: string[] = [];
    const whole = health.Watch({ service: '' });
    const processSeen: string[] = [];
    whole.on('data', (r: { status: string }) => processSeen.push(r.status));
    whole.on('error', () => {}); // cancelled at the end
    const watch = health.Watch({ service: 'octoserve.v1.Inference' });
    watch.on('error', () => {}); // cancelled at the end
    const back = new Promise<void>((resolve) => watch.on('data', (r: { status: string }) => {
      seen.push(r.status);
      if (seen.includes('NOT_SERVING') && r.status === 'SERVING') resolve();
    }));
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(seen, ['SERVING']);
    const victim = cluster.workerPids[1] as number;
    process.kill(victim, 'SIGKILL');
    await back;
    assert.deepEqual(seen, ['SERVING', 'NOT_SERVING', 'SERVING']);
    assert.equal(cluster.restarts, 1);
    assert.deepEqual(processSeen, ['SERVING'], 'the process stays alive while its cluster restarts');
    whole.cancel();
    watch.cancel();
  } finally {
    health.close();
    await server.close();
  }
});
