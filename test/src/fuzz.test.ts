// Every gRPC endpoint fed seeded inputs: random bytes, valid messages cut short, valid messages
// with bytes changed, and valid-looking messages with extreme values. The client API and Admin
// of a launched coordinator; the Worker, Registry and collective Exchange services of an
// in-process cluster. Each call must end before its deadline with any status but INTERNAL or
// UNKNOWN (an error nobody handled); afterwards every process is alive and the cluster still
// produces the golden greedy tokens. OCTOSERVE_FUZZ_SEED=<seed> replays a run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Cluster, ClusterTokenSource, planShards } from '@octoserve/coordinator';
import type { Registration } from '@octoserve/coordinator';
import { generateFrom, openCheckpoint } from '@octoserve/model';
import { CLUSTER_TOKEN_METADATA, adminServices, inferenceServices, workerServices } from '@octoserve/wire';
import type {
  ClusterStatusReply__Output, GenerateEvent__Output, GenerateRequest, LoadShardRequest, LoadShardRequest__Output, RegisterRequest__Output, StepRequest, StepRequest__Output,
} from '@octoserve/wire';
import { EMPTY_MESSAGE, SEED, SHAPELESS, cat, frame, pb } from './fuzz-inputs.js';
import type { Corpus } from './fuzz-inputs.js';
import { Tally, bidi, clientStream, connect, deadline, decodes, fuzz, noFailures, raw, report, sender, serverStream, unary } from './fuzz-calls.js';
import type { Endpoint, Send } from './fuzz-calls.js';
import { dropQueue, startCoordinator, uniqueQueue } from './coordinator-process.js';
import { WORKER_COMMAND, alive } from './helpers.js';
import { findTestModel, loadGoldenCases, type GoldenCase, type TestModel } from '@octoserve/testkit';

/** Collective Exchange, as in packages/collectives/src/transport.ts (EXCHANGE_PATH). */
const EXCHANGE_PATH = '/octoserve.v1.Collective/Exchange';

const model: TestModel = await findTestModel();
const golden = loadGoldenCases(model)[0] as GoldenCase;
const config = (() => { const c = openCheckpoint(model.modelPath); c.close(); return c.config; })();

// ---------------------------------------------------------------- the client API and Admin

const inference = inferenceServices().Inference.service;
const adminService = adminServices().Admin.service;
const gen = (m: GenerateRequest): Buffer => inference.Generate.requestSerialize(m);
/** max_tokens first: a GenerateRequest cut after it has no prompt, never the default 256 tokens. */
const shortGen = (prompt: GenerateRequest): Buffer => cat(gen({ maxTokens: 4 }), gen(prompt));

const GENERATE: Corpus = {
  valid: [
    shortGen({ prompt: 'Once upon a time' }),
    cat(gen({ maxTokens: 3, temperature: 0.8, topK: 5, topP: 0.9, seed: 7 }), gen({ promptTokenIds: [1, 403, 407] })),
  ],
  extreme: [
    cat(pb.uint(3, 0x7fffffff), pb.len(1, 'Once')), cat(pb.uint(3, -1n), pb.len(1, 'Once')), cat(pb.uint(3, 0), pb.len(1, 'Once')),
    cat(pb.uint(3, (1n << 64n) - 1n), pb.len(1, 'Once')), cat(pb.uint(3, 1n << 32n), pb.len(1, 'Once')),
    ...[NaN, Infinity, -Infinity, -0, 3.4e38, 1e-45, -1].map((v) => cat(pb.uint(3, 2), pb.float(4, v), pb.len(1, 'Once'))),
    ...[NaN, 0, 1.0000001, -1, Infinity].map((v) => cat(pb.uint(3, 2), pb.float(4, 0.5), pb.float(6, v), pb.len(1, 'Once'))),
    cat(pb.uint(3, 2), pb.float(4, 0.5), pb.uint(5, 0xffffffff), pb.len(1, 'Once')),
    cat(pb.uint(3, 2), pb.uint(7, (1n << 64n) - 1n), pb.float(4, 0.5), pb.len(1, 'Once')),
    gen({ maxTokens: 2, promptTokenIds: Array.from({ length: 10_000 }, (_, i) => (i * 7919) % config.vocabSize) }),
    cat(pb.uint(3, 2), ...Array.from({ length: 10_000 }, (_, i) => pb.uint(2, (i * 31) % config.vocabSize))), // unpacked
    gen({ maxTokens: 2, promptTokenIds: [1, config.vocabSize] }), gen({ maxTokens: 2, promptTokenIds: [0xffffffff] }),
    gen({ maxTokens: 8, promptTokenIds: Array.from({ length: config.maxSeqLen - 1 }, (_, i) => 1 + (i % 500)) }),
    gen({ maxTokens: 2, promptTokenIds: Array.from({ length: config.maxSeqLen }, () => 1) }),
    cat(pb.uint(3, 2), pb.len(1, Buffer.from([0x4f, 0xff, 0xfe, 0xed, 0xa0, 0x80]))), // not UTF-8
    cat(pb.uint(3, 2), pb.len(1, 'a\u0000b\u{1f600}\u202e')), cat(pb.uint(3, 2), pb.len(1, '')),
    cat(pb.uint(3, 2), pb.len(1, 'Once upon a time '.repeat(12_000))), // 200 KB of prompt
    cat(pb.uint(3, 2), pb.len(1, Buffer.alloc(1_100_000, 0x61))),     // past the 1 MiB request limit
    cat(pb.uint(3, 2), pb.uint(1, 5)), cat(pb.uint(3, 2), pb.fixed32(2, 7)), cat(pb.uint(3, 2), pb.len(3, 'x'), pb.len(1, 'Once')),
    ...SHAPELESS,
  ],
};

function jobCorpora(jobId: string): { submit: Corpus; id: Corpus; list: Corpus } {
  const submitOf = (id: string, request: Buffer): Buffer => cat(pb.len(2, id), pb.len(1, request)); // the id first: cut short, no request
  const ids = ['', 'a'.repeat(64), 'a'.repeat(65), '../../etc', 'a:b', '*', 'x\u0000y', 'é', 'b'.repeat(100_000)];
  return {
    submit: {
      valid: [submitOf(jobId, shortGen({ prompt: 'Once upon a time' }))],
      extreme: [
        ...ids.map((id) => submitOf(id, shortGen({ prompt: 'Once' }))), pb.len(2, 'no-request'), submitOf(`${jobId}-x`, Buffer.alloc(0)),
        ...GENERATE.extreme.filter((g) => g.length < 200_000).map((g) => pb.len(1, g)),
        pb.len(1, Buffer.from([0xff])), pb.len(2, Buffer.from([0xc3, 0x28])), ...SHAPELESS,
      ],
    },
    id: {
      valid: [pb.len(1, jobId), pb.len(1, 'fuzz-no-such-job')],
      extreme: [...ids.map((id) => pb.len(1, id)), pb.len(1, Buffer.from([0xff, 0xfe])), pb.uint(1, 3), ...SHAPELESS],
    },
    list: {
      valid: [Buffer.alloc(0), cat(pb.len(1, Buffer.from([3, 1])), pb.uint(2, 5)), cat(pb.uint(2, 2), pb.len(3, '0'))],
      extreme: [
        pb.uint(2, 0xffffffff), pb.uint(2, 1000), pb.uint(2, 1001), pb.uint(1, 99), pb.uint(1, -1n), pb.len(1, Buffer.alloc(10_000, 2)),
        ...['99999999999999999999999', '1:2', '00:00', 'x', '-1', '1:-1', '9007199254740993:1'].map((p) => pb.len(3, p)),
        pb.len(3, Buffer.from([0xff])), ...SHAPELESS,
      ],
    },
  };
}

const decodesAsDrain = (b: Buffer): boolean => decodes((x) => adminService.Drain.requestDeserialize(x), b);

async function generateGreedy(client: grpc.Client, promptIds: number[], maxTokens: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const call = client.makeServerStreamRequest(inference.Generate.path, raw, raw, gen({ promptTokenIds: promptIds, maxTokens, temperature: 0 }), new grpc.Metadata(), { deadline: Date.now() + 60_000 });
    let done: number[] | undefined;
    call.on('data', (b: Buffer) => {
      const e: GenerateEvent__Output = inference.Generate.responseDeserialize(b);
      if (e.done !== null && e.done !== undefined) done = e.done.tokenIds;
    });
    call.on('error', reject);
    call.on('end', () => (done === undefined ? reject(new Error('Generate ended without its completion')) : resolve(done)));
  });
}

function clusterStatus(client: grpc.Client, md: grpc.Metadata): Promise<ClusterStatusReply__Output> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(adminService.ClusterStatus.path, raw, raw, Buffer.alloc(0), md, deadline(),
      (err, res) => (err === null && res !== undefined ? resolve(adminService.ClusterStatus.responseDeserialize(res)) : reject(err ?? new Error('no reply'))));
  });
}

test(`fuzzed client API and Admin calls (seed ${SEED}): no INTERNAL, UNKNOWN or hang; then the golden greedy tokens`, { timeout: 170_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'octoserve-fuzz-'));
  const adminToken = 'fuzz-admin-token-0123456789abcdef';
  writeFileSync(join(dir, 'admin-token'), adminToken);
  const queue = uniqueQueue('fuzz');
  // at most 4 running and 4 waiting: a valid Generate waits for a slot behind one round of streams
  // (each cancelled 1.5 s after it starts sending), well inside the 5 s that counts as a hang,
  // even with a long prompt to prefill on a loaded machine; the rest are RESOURCE_EXHAUSTED
  const coord = await startCoordinator([
    '--model', model.modelPath, '--tp', '2', '--queue', queue, '--max-sequences', '4', '--max-waiting', '4', '--admin-token-file', join(dir, 'admin-token'),
  ]);
  const clients: grpc.Client[] = [];
  const none = new grpc.Metadata();
  const admin = new grpc.Metadata();
  admin.set('authorization', `Bearer ${adminToken}`);
  const via = (call: typeof unary, path: string): Send => sender(() => coord.address, call, path, () => none, clients);
  const viaAdmin = (path: string): Send => sender(() => coord.address, unary, path, (credentials) => (credentials ? admin : none), clients);
  const tally = new Tally();
  try {
    const client = connect(coord.address);
    clients.push(client);
    const jobId = `fuzz-job-${process.pid}`;
    const jobs = jobCorpora(jobId);
    const submitted = await unary(client, inference.SubmitJob.path, [jobs.submit.valid[0] as Buffer], none);
    assert.equal(submitted.status, 'OK', submitted.details);
    const before = await clusterStatus(client, admin);

    const endpoints: Endpoint[] = [
      { name: 'Inference/Generate', corpus: GENERATE, send: via(serverStream, inference.Generate.path) },
      { name: 'Inference/SubmitJob', corpus: jobs.submit, send: via(unary, inference.SubmitJob.path) },
      { name: 'Inference/GetJob', corpus: jobs.id, send: via(unary, inference.GetJob.path) },
      { name: 'Inference/WatchJob', corpus: jobs.id, send: via(serverStream, inference.WatchJob.path) },
      { name: 'Inference/CancelJob', corpus: jobs.id, send: via(unary, inference.CancelJob.path) },
      { name: 'Inference/ListJobs', corpus: jobs.list, send: via(unary, inference.ListJobs.path) },
      { name: 'Admin/ClusterStatus', corpus: EMPTY_MESSAGE, guarded: true, send: viaAdmin(adminService.ClusterStatus.path) },
      { name: 'Admin/Resume', corpus: EMPTY_MESSAGE, guarded: true, send: viaAdmin(adminService.Resume.path) },
      // A DrainRequest that decodes would really drain: it goes only without the token. With the
      // token, OK to bytes that do not decode means the coordinator acted on a request it never read.
      {
        name: 'Admin/Drain', corpus: { valid: [cat(pb.uint(1, 1), pb.uint(2, 5))], extreme: SHAPELESS }, guarded: true,
        unsafe: (b) => (decodesAsDrain(b) ? 'it would drain' : undefined), send: viaAdmin(adminService.Drain.path), alsoBad: (o) => o.status === 'OK',
      },
      // Nearly any bytes decode as an (empty) ShutdownRequest: every case goes without the token.
      { name: 'Admin/Shutdown', corpus: EMPTY_MESSAGE, guarded: true, unsafe: () => 'it would stop the coordinator', send: viaAdmin(adminService.Shutdown.path) },
    ];
    for (const e of endpoints) await fuzz(tally, e);
    const failures = report(t, tally);

    // back in service should a fuzzed Drain have drained it (then a failure above)
    assert.equal((await unary(client, adminService.Resume.path, [Buffer.alloc(0)], admin)).status, 'OK');
    assert.equal(coord.child.exitCode, null, 'the coordinator is still running');
    const after = await clusterStatus(client, admin);
    assert.deepEqual(after.ranks.map((r) => r.pid), before.ranks.map((r) => r.pid), 'no worker died or was restarted');
    for (const r of after.ranks) assert.doesNotMatch(r.state, /unreachable/, `rank ${r.rank}`);
    const budget = 257 - golden.prompt_token_ids.length;
    assert.deepEqual(await generateGreedy(client, golden.prompt_token_ids, budget), golden.generated_token_ids, 'greedy tokens after the fuzz');
    noFailures(failures);
  } finally {
    for (const c of clients) c.close();
    await coord.stop();
    dropQueue(queue);
  }
});

// ---------------------------------------------------------------- Worker, Registry, Exchange

const CLUSTER_TOKEN = 'fuzz-cluster-token-0123456789abcdef';
const worker = workerServices().Worker.service;
const registryService = workerServices().Registry.service;
const plan = planShards(config, 2);

function loadRequest(rank: number, modelPath: string): LoadShardRequest {
  return {
    modelPath, configJson: JSON.stringify(config), shard: { ...plan.ranks[rank], tp: 2 }, maxTokensPerStep: 64, topK: 64, maxPicked: 1, maxSequences: 4, threads: 1,
  };
}

/**
 * Whether a worker would act on this step: run it, or give its first sequence a KV cache before
 * refusing a later one (worker-service.ts step() checks each sequence as it reaches it).
 */
function wouldRun(req: StepRequest__Output): boolean {
  const first = req.sequences[0];
  if (first === undefined) return req.pickedIds.length === 0; // no rows: an all-reduce of nothing, which the other rank never joins
  const T = first.tokens.length;
  return T > 0 && first.positions.length === T && first.tokens.every((x) => x < config.vocabSize) && first.positions.every((p) => p < config.maxSeqLen) &&
    (first.uniforms.length === 0 || first.uniforms.length === 4 * T) && (first.treeMask.length === 0 || first.treeMask.length === T * T);
}


test(`fuzzed Worker, Registry and collective Exchange calls (seed ${SEED}): no INTERNAL, UNKNOWN or hang; then the golden greedy tokens`, { timeout: 170_000 }, async (t) => {
  let registryAddress: string | undefined;
  // the grpc fabric: the collective Exchange service fuzzed here is its data plane (the socket
  // fabric's records are refused the same way, in packages/collectives' tests of bad frames)
  const cluster = await Cluster.start({
    modelPath: model.modelPath, tp: 2, workerCommand: WORKER_COMMAND, clusterToken: CLUSTER_TOKEN, fabric: 'grpc',
    log: (line) => { registryAddress ??= /waiting for \d+ workers on (\S+)/.exec(line)?.[1]; },
  });
  const regs = cluster.registrations.map((r) => ({ ...r }));
  assert.ok(registryAddress !== undefined, 'the cluster logs where its Registry listens');
  const registryAt = registryAddress;
  const clients: grpc.Client[] = [];
  const none = new grpc.Metadata();
  const withToken = new grpc.Metadata();
  withToken.set(CLUSTER_TOKEN_METADATA, CLUSTER_TOKEN);
  const tally = new Tally();
  const rankOf = (i: number): number => i % 2;
  /** Case i goes to rank i % 2. */
  const to = (addressOf: (rank: number) => string, call: typeof unary, path: string): Send =>
    sender((i) => addressOf(rankOf(i)), call, path, (credentials) => (credentials ? withToken : none), clients);
  const workerAt = (r: number): string => (regs[r] as Registration).address;
  const exchangeAt = (r: number): string => (regs[r] as Registration).collectiveAddress;
  try {
    const step = (m: StepRequest): Buffer => worker.Steps.requestSerialize(m);
    const seq = { sequenceId: 9, tokens: [1], positions: [0], reset: true };
    const uploadMsg = (m: Parameters<typeof worker.UploadShard.requestSerialize>[0]): Buffer => worker.UploadShard.requestSerialize(m);
    const chunk = (name: string, shape: (number | bigint)[], offset: number | bigint, data: Buffer): Buffer =>
      pb.len(2, cat(pb.len(1, name), pb.len(2, cat(...shape.map((d) => pb.varint(BigInt(d))))), pb.uint(3, offset), pb.len(4, data)));
    const register = (m: Partial<RegisterRequest__Output>): Buffer => registryService.Register.requestSerialize(m);

    const endpoints: Endpoint[] = [
      { name: 'Worker/Health', corpus: EMPTY_MESSAGE, guarded: true, send: to(workerAt, unary, worker.Health.path) },
      {
        name: 'Worker/Release', guarded: true, send: to(workerAt, unary, worker.Release.path),
        corpus: {
          valid: [worker.Release.requestSerialize({ sequenceIds: [987_654] }), worker.Release.requestSerialize({ sequenceIds: [1, 2, 3] })],
          extreme: [worker.Release.requestSerialize({ sequenceIds: Array.from({ length: 10_000 }, (_, i) => i) }), pb.uint(1, -1n), pb.len(1, pb.varint(-1n)), ...SHAPELESS],
        },
      },
      {
        name: 'Worker/InitCommunicator', guarded: true, send: to(workerAt, unary, worker.InitCommunicator.path),
        corpus: {
          valid: [0, 1].map((rank) => worker.InitCommunicator.requestSerialize({ communicatorId: 'fuzz', rank, peerAddresses: ['127.0.0.1:1', '127.0.0.1:2'], deadlineMs: 1_000, algorithm: 'ring' })),
          extreme: [
            worker.InitCommunicator.requestSerialize({ rank: 0, peerAddresses: Array.from({ length: 10_000 }, (_, i) => `h${i}:1`) }),
            cat(pb.uint(2, 0xffffffff), pb.len(3, 'a:1'), pb.len(3, 'b:2')), cat(pb.len(3, 'a:1'), pb.len(3, 'b:2'), pb.len(5, 'no-such-algorithm'), pb.uint(4, 0xffffffff)),
            ...SHAPELESS,
          ],
        },
      },
      {
        // Each rank gets the other rank's assignment (refused), or its own from a checkpoint that
        // is not there. One that would load (its own rank, a real checkpoint) goes only without the token.
        name: 'Worker/LoadShard', guarded: true, send: to(workerAt, unary, worker.LoadShard.path),
        unsafe: (f, i) => {
          let req: LoadShardRequest__Output;
          try { req = worker.LoadShard.requestDeserialize(f); } catch { return undefined; } // undecodable: send it
          return req.shard?.rank === rankOf(i) && existsSync(req.modelPath) ? 'would replace the worker\'s shard' : undefined;
        },
        corpus: {
          valid: [0, 1].flatMap((rank) => [worker.LoadShard.requestSerialize(loadRequest(1 - rank, model.modelPath)), worker.LoadShard.requestSerialize(loadRequest(rank, '/nonexistent/model.bin'))]),
          extreme: [
            ...['', '/', '/dev/null', '/dev/zero', '/proc/self/cmdline', model.dir, 'x', 'x'.repeat(100_000)].map((p) => worker.LoadShard.requestSerialize({ ...loadRequest(1, model.modelPath), modelPath: p })),
            ...['', '{', '[]', 'null', '{"dim":-1}', '[['.repeat(50_000)].map((c) => worker.LoadShard.requestSerialize({ ...loadRequest(1, model.modelPath), configJson: c })),
            worker.LoadShard.requestSerialize({ ...loadRequest(1, model.modelPath), shard: { rank: 1, tp: 2, heads: { start: 0xffffffff, end: 0 }, vocab: { start: 0, end: 0xffffffff } } }),
            worker.LoadShard.requestSerialize({ ...loadRequest(1, model.modelPath), medusaHeads: 3, medusaLayers: 1, medusaPath: '/nonexistent' }),
            cat(pb.len(1, model.modelPath), pb.len(2, JSON.stringify(config))), // no shard
            ...SHAPELESS,
          ],
        },
      },
      {
        // Steps the worker refuses before touching a cache. One it would act on goes only without
        // the token: a second stream's step runs all-reduces the other rank never joins, and the cluster fails.
        name: 'Worker/Steps (second stream)', guarded: true, maxFrames: 3, send: to(workerAt, bidi, worker.Steps.path),
        unsafe: (f) => {
          let req: StepRequest__Output;
          try { req = worker.Steps.requestDeserialize(f); } catch { return undefined; } // undecodable: send it
          return wouldRun(req) ? 'the worker would act on it' : undefined;
        },
        corpus: {
          valid: [
            step({ stepId: 1, sequences: [{ ...seq, tokens: [config.vocabSize] }] }), step({ stepId: 2, sequences: [{ ...seq, positions: [0, 1] }] }),
            step({ stepId: 3, sequences: [{ ...seq, positions: [config.maxSeqLen] }, seq] }), step({ stepId: 4, sequences: [{ ...seq, uniforms: Buffer.alloc(3) }] }),
            step({ stepId: 5, sequences: [{ ...seq, tokens: [], positions: [] }] }), step({ stepId: 6, pickedIds: Buffer.alloc(8) }),
          ],
          extreme: [
            step({ sequences: [{ ...seq, tokens: [0xffffffff] }] }), step({ sequences: [{ ...seq, treeMask: Buffer.alloc(5) }] }),
            step({ sequences: [{ ...seq, tokens: Array.from({ length: 10_000 }, () => config.vocabSize), positions: Array.from({ length: 10_000 }, (_, i) => i) }] }),
            step({ pickedIds: Buffer.alloc(7) }), cat(pb.uint(1, -1n), pb.len(2, cat(pb.uint(1, -1n), pb.len(2, pb.varint(1n << 40n)), pb.len(3, pb.varint(0n))))),
            ...SHAPELESS.filter((b) => b.length > 0),
          ],
        },
      },
      {
        name: 'Worker/UploadShard', guarded: true, maxFrames: 4, send: to(workerAt, clientStream, worker.UploadShard.path),
        corpus: {
          valid: [
            uploadMsg({ load: loadRequest(1, '') }), uploadMsg({ load: loadRequest(0, '') }),
            chunk('tok_embeddings', [config.vocabSize, config.dim], 0, Buffer.alloc(64)), chunk('norm', [1, config.dim], 4 * config.dim - 4, Buffer.alloc(8)),
          ],
          extreme: [
            chunk('x', [1n << 31n, 1n << 31n], 0, Buffer.alloc(4)), chunk('x', [(1n << 32n) - 1n], 0, Buffer.alloc(4)), chunk('x', [], 0, Buffer.alloc(4)),
            chunk('norm', [1, config.dim], (1n << 53n) + 1n, Buffer.alloc(4)), chunk('norm', [1, config.dim], 0, Buffer.alloc(1 << 20)), chunk('', [0, 0], 0, Buffer.alloc(0)),
            chunk('n'.repeat(100_000), [1, 1], 0, Buffer.alloc(8)),
            uploadMsg({ load: { ...loadRequest(1, ''), configJson: '{' } }), uploadMsg({ load: { ...loadRequest(1, ''), shard: null } }), ...SHAPELESS,
          ],
        },
      },
      {
        // The mesh is formed: a HELLO from an outsider is refused (another communicator id), and
        // so is any first frame that is not a HELLO.
        name: 'Collective/Exchange', guarded: true, maxFrames: 3, send: to(exchangeAt, bidi, EXCHANGE_PATH),
        corpus: {
          valid: [frame.hello('fuzz-communicator', 2, 1, 0), frame.hello('fuzz-communicator', 2, 0, 1), frame.data(1n, 4, Buffer.alloc(16)), frame.abort('fuzz'), frame.goodbye(1n)],
          extreme: [
            frame.hello('x'.repeat(100_000), 2, 1, 0), frame.hello('', (1n << 32n) - 1n, 1n << 53n, 0), frame.hello('fuzz', 2, 1, 0, 0), frame.hello('fuzz', 0, 0, 0),
            frame.data(-1n, 0xffffffff, Buffer.alloc(4)), frame.data(1n, 1 << 18, Buffer.alloc(1 << 20)), frame.goodbye(-1n), frame.abort(''),
            cat(pb.uint(1, 2), pb.uint(16, 5)), cat(pb.uint(1, 2), pb.len(16, Buffer.from([0x0a, 0x7f]))), cat(pb.uint(1, 99)), ...SHAPELESS,
          ],
        },
      },
      {
        // The token rides in the request here. One the registry would accept (the token, a live
        // rank's own pid and host) is not sent: it would replace that registration.
        name: 'Registry/Register', send: sender(() => registryAt, unary, registryService.Register.path, () => none, clients),
        unsafe: (f) => {
          let req: RegisterRequest__Output;
          try { req = registryService.Register.requestDeserialize(f); } catch { return undefined; } // undecodable: send it
          const live = regs[req.rank];
          return req.clusterToken === CLUSTER_TOKEN && req.worldSize === 2 && live !== undefined && live.pid === req.pid && live.host === req.host
            ? 'would replace a live registration' : undefined;
        },
        corpus: {
          valid: [
            register({ rank: 0, worldSize: 2, address: '127.0.0.1:1', collectiveAddress: '127.0.0.1:2', pid: 1, host: 'fuzz-host', device: 'cpu', clusterToken: CLUSTER_TOKEN }),
            register({ rank: 2, worldSize: 3, address: '127.0.0.1:1', pid: 1, host: 'fuzz-host' }), register({ rank: 7, worldSize: 2, clusterToken: 'fuzz' }),
          ],
          extreme: [register({ rank: 0xffffffff, worldSize: 0xffffffff, pid: 0xffffffff }), register({ worldSize: 2, address: 'a'.repeat(100_000) }), register({ worldSize: 0 }), ...SHAPELESS],
        },
      },
    ];
    for (const e of endpoints) await fuzz(tally, e);

    const failures = report(t, tally);
    for (const pid of cluster.workerPids) assert.ok(alive(pid), `worker ${pid} is alive`);
    assert.deepEqual(cluster.registrations, regs, 'the registrations are unchanged');
    const health = await cluster.health(5_000);
    for (const h of health) assert.ok(!(h instanceof Error), String(h));
    t.diagnostic(`worker states after the fuzz: ${health.map((h) => (h instanceof Error ? h.message : h.state)).join(', ')}`);
    const source = new ClusterTokenSource(cluster, 1, { temperature: 0 });
    const out = await generateFrom(source, golden.prompt_token_ids, { maxTokens: 257 - golden.prompt_token_ids.length, stopIds: [1, 2] });
    assert.deepEqual(out.tokenIds, golden.generated_token_ids, 'greedy tokens after the fuzz');
    noFailures(failures);
  } finally {
    for (const c of clients) c.close();
    await cluster.close();
  }
});
