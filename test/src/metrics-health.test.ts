// A coordinator's Prometheus metrics and its standard gRPC health: a tp=2 cluster of real
// worker processes with Medusa heads, the client API on a real socket. After a known set of
// Generate calls and a job, the metrics' counters equal what the responses reported (tokens,
// prompt tokens, finish reasons, Medusa drafts and accepted drafts per depth); grpc.health.v1
// answers SERVING, and NOT_SERVING for the Inference service while draining; server
// reflection lists the services.
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { service as healthService } from 'grpc-health-check';
import { OctoserveClient } from '@octoserve/client';
import type { Completion__Output } from '@octoserve/client';
import { Cluster, CoordinatorServer, MemoryJobQueue } from '@octoserve/coordinator';
import { MC_SIM_7B_63, buildTree } from '@octoserve/medusa';
import { openModel } from '@octoserve/model';
import { WORKER_COMMAND, trainTestHeads } from './helpers.js';
import { findTestModel, loadGoldenCases, type GoldenCase, type TestModel } from '@octoserve/testkit';

const model: TestModel = await findTestModel();
const cases: GoldenCase[] = loadGoldenCases(model);

/** One sample of Prometheus text: its name, labels and value. */
interface Sample { name: string; labels: Record<string, string>; value: number }

/** The samples of a Prometheus text exposition (comments skipped). */
function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m !== null, `not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k as string] = v as string;
    samples.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return samples;
}

/** The value of `name` with exactly these labels (0 when it has none yet). */
function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)
    && Object.keys(s.labels).length === Object.keys(labels).length);
  assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)} appears ${found.length} times`);
  return found[0]?.value ?? 0;
}

/** The part of a reflection reply that lists services. */
interface ListReply { list_services_response?: { service: { name: string }[] } }

type HealthStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';
const HealthClient = grpc.makeClientConstructor(healthService as unknown as grpc.ServiceDefinition, 'grpc.health.v1.Health');

function checkHealth(client: grpc.Client, service: string): Promise<HealthStatus> {
  return new Promise((resolve, reject) => (client as unknown as {
    Check(req: { service: string }, cb: (err: grpc.ServiceError | null, res?: { status: HealthStatus }) => void): void;
  }).Check({ service }, (err, res) => (err !== null ? reject(err) : resolve(res?.status ?? 'UNKNOWN'))));
}

describe('metrics and health of a tp=2 cluster with Medusa', () => {
  let cluster: Cluster;
  let server: CoordinatorServer;
  let client: OctoserveClient;
  const tree = buildTree(MC_SIM_7B_63, { numHeads: 4 });

  before(async () => {
    const headsDir = trainTestHeads(model.modelPath, 6_000);
    const { tokenizer, checkpoint } = await openModel({ model: model.modelPath });
    checkpoint.close();
    cluster = await Cluster.start({
      modelPath: model.modelPath, tp: 2, workerCommand: WORKER_COMMAND, maxSequences: 4,
      medusa: { path: headsDir, topK: Math.max(...tree.topK) }, maxPicked: 10,
    });
    server = await CoordinatorServer.start({
      cluster, tokenizer, queue: new MemoryJobQueue(), host: '127.0.0.1', port: 0, modelPath: model.modelPath,
      adminToken: 'test-admin-token', adminTokenHint: 'the test knows it', medusa: { tree, name: 'mc_sim_7b_63' },
    });
    client = new OctoserveClient({ address: server.address, deadlineMs: 60_000 });
  });
  after(async () => {
    client?.close();
    await server?.close();
  });

  test('after a known set of requests the counters equal what the responses reported', { timeout: 240_000 }, async () => {
    const before = parsePrometheus((await server.metricsText()).body);
    assert.equal(valueOf(before, 'octoserve:generation_tokens_total'), 0);
    const asked = [
      { c: cases[0] as GoldenCase, maxTokens: 257 - (cases[0] as GoldenCase).prompt_token_ids.length },
      { c: cases[1] as GoldenCase, maxTokens: 17 },
      { c: cases[2] as GoldenCase, maxTokens: 40 },
      { c: cases[3] as GoldenCase, maxTokens: 1 },
    ];
    // one alone, then three at once (they share steps)
    const first = await client.complete({ prompt: asked[0]!.c.prompt, maxTokens: asked[0]!.maxTokens });
    const rest = await Promise.all(asked.slice(1).map((a) => client.complete({ prompt: a.c.prompt, maxTokens: a.maxTokens })));
    const jobId = await client.submitJob({ prompt: (cases[4] as GoldenCase).prompt, maxTokens: 24 });
    let job;
    for await (const j of client.watchJob(jobId)) job = j;
    assert.equal(job?.state, 'JOB_STATE_COMPLETED');
    const done: Completion__Output[] = [first, ...rest];
    done.forEach((d, i) => assert.deepEqual(d.tokenIds, asked[i]!.c.generated_token_ids.slice(0, asked[i]!.maxTokens), 'greedy Medusa gives the golden tokens'));
    const stats = [...done.map((d) => ({ promptTokens: d.promptTokenIds.length, finishReason: d.finishReason, stats: d.stats! })),
      { promptTokens: job!.promptTokenIds.length, finishReason: job!.finishReason, stats: job!.stats! }];
    const sum = (f: (s: (typeof stats)[number]) => number): number => stats.reduce((n, s) => n + f(s), 0);

    const m = parsePrometheus((await server.metricsText()).body);
    assert.equal(valueOf(m, 'octoserve:generation_tokens_total'), sum((s) => s.stats.tokens));
    assert.equal(valueOf(m, 'octoserve:prompt_tokens_total'), sum((s) => s.promptTokens));
    for (const reason of ['length', 'stop']) {
      assert.equal(valueOf(m, 'octoserve:request_success_total', { finished_reason: reason }), stats.filter((s) => s.finishReason === reason).length, reason);
    }
    const specSteps = sum((s) => s.stats.specSteps);
    assert.ok(specSteps > 0, 'Medusa ran tree steps');
    assert.equal(valueOf(m, 'octoserve:spec_decode_num_drafts_total'), specSteps);
    assert.equal(valueOf(m, 'octoserve:spec_decode_num_draft_tokens_total'), sum((s) => s.stats.draftTokens));
    assert.equal(sum((s) => s.stats.draftTokens), specSteps * (tree.nodeCount - 1), 'every tree step verifies every node but the root');
    let accepted = 0;
    for (let d = 0; d < tree.maxDepth; d++) {
      const atDepth = sum((s) => s.stats.acceptedPerDepth[d] ?? 0);
      accepted += atDepth;
      assert.equal(valueOf(m, 'octoserve:spec_decode_num_accepted_tokens_per_pos_total', { position: String(d) }), atDepth, `depth ${d}`);
    }
    assert.ok(accepted > 0, 'the heads got some drafts accepted');
    assert.equal(valueOf(m, 'octoserve:spec_decode_num_accepted_tokens_total'), accepted);
    const requests = stats.length;
    for (const h of ['e2e_request_latency_seconds', 'time_to_first_token_seconds', 'request_queue_time_seconds']) {
      assert.equal(valueOf(m, `octoserve:${h}_count`), requests, h);
    }
    assert.equal(valueOf(m, 'octoserve:num_requests_running'), 0);
    assert.equal(valueOf(m, 'octoserve:num_requests_waiting'), 0);
    assert.equal(valueOf(m, 'octoserve:cluster_restarts_total'), 0);
    assert.equal(valueOf(m, 'octoserve:jobs', { state: 'completed' }), 1);
    const steps = valueOf(m, 'octoserve:cluster_steps_total');
    assert.ok(steps > 0);
    for (const rank of ['0', '1']) {
      for (const h of ['step_compute_seconds', 'step_allreduce_seconds', 'step_worker_seconds']) {
        assert.equal(valueOf(m, `octoserve:${h}_count`, { rank }), steps, `${h} rank ${rank}: one observation per step`);
      }
      assert.ok(valueOf(m, 'octoserve:step_allreduce_seconds_sum', { rank }) > 0, 'tp=2 spends time in all-reduce');
    }
    // all-reduces by algorithm and size class: two per layer per step, each labelled with what the workers ran
    const byClass = m.filter((x) => x.name === 'octoserve:allreduce_calls_total');
    assert.ok(byClass.length >= 1, 'all-reduce calls by algorithm and size class are exported');
    for (const x of byClass) {
      assert.match(x.labels.algorithm ?? '', /^(ring|oneshot|twoshot|tree|star|doubling|shm)$/, JSON.stringify(x.labels));
      assert.match(x.labels.size_class ?? '', /^\d+(B|KiB|MiB)$/);
    }
    const timed = m.filter((x) => x.name === 'octoserve:allreduce_seconds_count').reduce((n, x) => n + x.value, 0);
    assert.equal(timed, steps * 2, 'one observation per step per rank');
    const layers = 5;
    assert.equal(byClass.reduce((n, x) => n + x.value, 0), steps * 2 * layers, 'every step runs two all-reduces per layer');
  });

  test('grpc.health.v1 says SERVING, and NOT_SERVING for the Inference service while draining', { timeout: 60_000 }, async () => {
    const health = new HealthClient(server.address, grpc.credentials.createInsecure());
    try {
      assert.equal(await checkHealth(health, ''), 'SERVING');
      assert.equal(await checkHealth(health, 'octoserve.v1.Inference'), 'SERVING');
      await assert.rejects(checkHealth(health, 'no.such.Service'), (err: grpc.ServiceError) => err.code === grpc.status.NOT_FOUND);
      await server.drain(true, 10_000);
      assert.equal(await checkHealth(health, 'octoserve.v1.Inference'), 'NOT_SERVING');
      assert.equal(await checkHealth(health, ''), 'SERVING', 'a draining coordinator is alive: liveness holds');
      server.resume();
      assert.equal(await checkHealth(health, 'octoserve.v1.Inference'), 'SERVING');
    } finally {
      health.close();
    }
  });

  test('server reflection lists the client API services', { timeout: 30_000 }, async () => {
    const require = createRequire(import.meta.url);
    const protoPath = require.resolve('@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto');
    const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(protoPath, { keepCase: true })) as unknown as {
      grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } };
    };
    const reflection = new pkg.grpc.reflection.v1.ServerReflection(server.address, grpc.credentials.createInsecure());
    try {
      const names = await new Promise<string[]>((resolve, reject) => {
        const call = (reflection as unknown as { ServerReflectionInfo(): grpc.ClientDuplexStream<unknown, ListReply> }).ServerReflectionInfo();
        call.on('data', (res: ListReply) => { resolve((res.list_services_response?.service ?? []).map((s) => s.name)); call.end(); });
        call.on('error', reject);
        call.write({ list_services: '' });
      });
      for (const name of ['octoserve.v1.Inference', 'octoserve.v1.Admin']) assert.ok(names.includes(name), `${name} in ${names.join(', ')}`);
    } finally {
      reflection.close();
    }
  });
});
