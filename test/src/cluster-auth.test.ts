// Only the cluster talks to itself: with a cluster token, a worker without it
// cannot join, calls to a worker without it end UNAUTHENTICATED before their
// handler runs, outsiders cannot open collective streams; with certificates,
// every internal link is mutual TLS. Real processes, real sockets; after each
// refusal the cluster still generates run.c's greedy tokens.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import { CollectiveError, Communicator, Endpoint, resolveFabric, SocketConnection, type CollectiveTls } from '@octoserve/collectives';
import { Cluster, ClusterTokenSource, newClusterToken, planShards } from '@octoserve/coordinator';
import { generateFrom } from '@octoserve/model';
import { workerServices } from '@octoserve/wire';
import type { HealthReply__Output, LoadShardReply__Output, StepReply__Output, StepRequest, WorkerClient } from '@octoserve/wire';
import { CLI_MAIN, WORKER_COMMAND } from './helpers.js';
import { findTestModel, loadGoldenCases, type GoldenCase, type TestModel, makeTestPki } from '@octoserve/testkit';

const model: TestModel = await findTestModel();
/** The fabric the clusters here run: OCTOSERVE_FABRIC, else the default. */
const FABRIC = resolveFabric(undefined);
const cases: GoldenCase[] = loadGoldenCases(model);
const TOKEN_KEY = 'x-octoserve-cluster-token';
const REFUSED = /this worker belongs to another cluster: missing or wrong cluster token/;

/** The first `n` greedy tokens of golden case `i` on the cluster equal run.c's. */
async function assertGoldens(cluster: Cluster, i: number, n: number, seq: number): Promise<void> {
  const c = cases[i] as GoldenCase;
  const r = await generateFrom(new ClusterTokenSource(cluster, seq, { temperature: 0 }), c.prompt_token_ids, { maxTokens: n, stopIds: [1, 2] });
  await cluster.release([seq]);
  assert.deepEqual(r.tokenIds, c.generated_token_ids.slice(0, n), `"${c.prompt}"`);
}

/** Runs `octoserve worker ...` with exactly `env` added to PATH-only surroundings; resolves on exit. */
function runWorker(args: string[], env: Record<string, string>): { exited: Promise<{ code: number | null; stderr: string }>; stop(): void } {
  const child = spawn(process.execPath, [CLI_MAIN, 'worker', ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env.PATH ?? '', ...env } });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on('exit', (code) => resolve({ code, stderr })));
  return { exited, stop: () => { child.kill('SIGTERM'); } };
}

function workerClient(address: string, credentials = grpc.credentials.createInsecure()): WorkerClient {
  return new (workerServices().Worker)(address, credentials) as unknown as WorkerClient;
}

function withToken(token: string | undefined): grpc.Metadata {
  const md = new grpc.Metadata();
  if (token !== undefined) md.set(TOKEN_KEY, token);
  return md;
}

function health(client: WorkerClient, md: grpc.Metadata): Promise<HealthReply__Output | grpc.ServiceError> {
  return new Promise((resolve) => client.Health({}, md, { deadline: Date.now() + 5_000 }, (err, res) => resolve(err ?? (res as HealthReply__Output))));
}

function statusOf(r: unknown): { code: number; details: string } {
  assert.ok(r instanceof Error && 'code' in r, `expected a refusal, got ${JSON.stringify(r)}`);
  return { code: (r as grpc.ServiceError).code, details: (r as grpc.ServiceError).details };
}


/**
 * Tries to form a 2-rank world with the worker's collective endpoint as its other rank, over the
 * cluster's fabric, with `security`; resolves with why it failed (it must fail).
 */
async function joinAsOutsider(address: string, security: { clusterToken?: string; tls?: CollectiveTls }, connectTimeoutMs = 5_000): Promise<string> {
  const endpoint = await Endpoint.bind('127.0.0.1:0', { ...security, fabric: FABRIC });
  try {
    const joined = await Communicator.create({ rank: 1, worldSize: 2, peers: [address, endpoint.address], communicatorId: 'intruder', endpoint, connectTimeoutMs, ...security })
      .then((c) => c, (err: unknown) => err);
    if (joined instanceof Communicator) {
      await joined.close();
      assert.fail(`an outsider formed a world with ${address}`);
    }
    assert.ok(joined instanceof CollectiveError, String(joined));
    return joined.message;
  } finally {
    endpoint.close();
  }
}

test('a worker with a wrong or no cluster token cannot register and exits non-zero; one with the token joins', async () => {
  const token = newClusterToken();
  assert.match(token, /^[A-Za-z0-9_-]{43}$/, '32 random bytes, base64url');
  let registry: ((address: string) => void) | undefined;
  const registryUp = new Promise<string>((resolve) => { registry = resolve; });
  const starting = Cluster.start({
    modelPath: model.modelPath, tp: 1, clusterToken: token, startTimeoutMs: 30_000,
    log: (line) => { const m = /waiting for 1 workers on (\S+)/.exec(line); if (m !== null) registry?.(m[1] as string); },
  });
  starting.catch(() => {}); // awaited below
  const address = await registryUp;
  const args = ['--rank', '0', '--world', '1', '--listen', '127.0.0.1:0', '--coordinator', address, '--register-timeout-ms', '10000'];
  const wrong = await runWorker(args, { OCTOSERVE_CLUSTER_TOKEN: 'not-the-token' }).exited;
  assert.equal(wrong.code, 1, wrong.stderr);
  assert.match(wrong.stderr, /octoserve: coordinator \S+ refused rank 0: this coordinator belongs to another cluster: missing or wrong cluster token \(the worker sent a different one\)/);
  const none = await runWorker(args, {}).exited;
  assert.equal(none.code, 1, none.stderr);
  assert.match(none.stderr, /missing or wrong cluster token \(the worker sent none\)/);
  const right = runWorker(args, { OCTOSERVE_CLUSTER_TOKEN: token });
  try {
    const cluster = await starting;
    try {
      await assertGoldens(cluster, 0, 20, 1);
    } finally {
      await cluster.close();
    }
  } finally {
    right.stop();
    // 0 on SIGTERM; 75 when it saw its coordinator's step stream end first (the cluster closed)
    const { code } = await right.exited;
    assert.ok(code === 0 || code === 75, `exit code ${code}`);
  }
});

/** Opens a step link to `address` as an outsider: the communicator id, then one step; resolves with how the worker answered. */
function stepLinkAsOutsider(address: string, communicatorId: string, security: { clusterToken?: string }): Promise<{ code: number; details: string }> {
  const steps = workerServices().Worker.service.Steps;
  return new Promise((resolve) => {
    const link = new SocketConnection(address, {
      onMessage: () => { link.drop(); resolve({ code: -1, details: 'the worker answered a step' }); },
      onStatus: (code, details) => resolve({ code, details }),
    }, security);
    link.write(Buffer.from(communicatorId, 'utf8'));
    const req: StepRequest = { stepId: 1, sequences: [{ sequenceId: 99, tokens: [1], positions: [0], reset: true, keepAll: false, temperature: 0 }] };
    link.write(steps.requestSerialize(req));
  });
}

describe('a cluster with a token', () => {
  const token = newClusterToken();
  let cluster: Cluster;
  before(async () => { cluster = await Cluster.start({ modelPath: model.modelPath, tp: 2, clusterToken: token, workerCommand: WORKER_COMMAND }); });
  after(async () => { await cluster.close(); });

  test('Health, LoadShard and Steps without the token or with a wrong one end UNAUTHENTICATED, and no handler runs', async () => {
    const worker = cluster.registrations[0]?.address as string;
    const client = workerClient(worker);
    try {
      for (const [given, sent] of [[undefined, 'none'], ['wrong', 'a different one']] as const) {
        const h = statusOf(await health(client, withToken(given)));
        assert.equal(h.code, grpc.status.UNAUTHENTICATED, h.details);
        assert.match(h.details, REFUSED);
        assert.ok(h.details.includes(`the call carried ${sent}`), h.details);
      }
      // A LoadShard that would, if it ran, replace rank 0's shard with the whole model (tp 1):
      // the goldens below would then come out wrong.
      const config = cluster.config;
      const whole = planShards(config, 1).ranks[0];
      const load = {
        modelPath: model.modelPath, configJson: JSON.stringify(config), shard: { ...whole, tp: 1 }, maxTokensPerStep: 64, topK: 64,
        maxPicked: 1, maxSequences: 4, threads: 1, medusaPath: '', medusaHeads: 0, medusaLayers: 0, medusaTopK: 0,
      };
      const loaded = await new Promise<LoadShardReply__Output | grpc.ServiceError>((resolve) =>
        client.LoadShard(load, withToken('wrong'), { deadline: Date.now() + 10_000 }, (err, res) => resolve(err ?? (res as LoadShardReply__Output))));
      const l = statusOf(loaded);
      assert.equal(l.code, grpc.status.UNAUTHENTICATED, l.details);
      assert.match(l.details, REFUSED);
      const steps = client.Steps(withToken(undefined));
      const stepped = await new Promise<StepReply__Output | grpc.ServiceError>((resolve) => {
        steps.on('data', (reply: StepReply__Output) => resolve(reply));
        steps.on('error', (err: grpc.ServiceError) => resolve(err));
        const req: StepRequest = { stepId: 1, sequences: [{ sequenceId: 99, tokens: [1], positions: [0], reset: true, keepAll: false, temperature: 0 }] };
        steps.write(req);
      });
      const s = statusOf(stepped);
      assert.equal(s.code, grpc.status.UNAUTHENTICATED, s.details);
      assert.match(s.details, REFUSED);
      // the cluster's own calls carry the token
      for (const h of await cluster.health(5_000)) assert.ok(!(h instanceof Error), String(h));
    } finally {
      client.close();
    }
    await assertGoldens(cluster, 1, 40, 2);
  });

  test(`an outsider's link to a collective endpoint (${FABRIC} fabric) is refused before its HELLO; all-reduce goes on`, async () => {
    for (const reg of cluster.registrations) {
      for (const [given, sent] of [[undefined, 'none'], ['wrong', 'a different one']] as const) {
        const refused = await joinAsOutsider(reg.collectiveAddress, given === undefined ? {} : { clusterToken: given });
        assert.match(refused, /refused this rank .*UNAUTHENTICATED: .*belongs to another cluster: missing or wrong cluster token/, `${reg.collectiveAddress}: ${refused}`);
        assert.ok(refused.includes(`the call carried ${sent}`), refused);
      }
    }
    await assertGoldens(cluster, 2, 40, 3);
  });

  test('an outsider\'s step link is refused: without the token UNAUTHENTICATED, with it but another communicator FAILED_PRECONDITION; steps go on', async (t) => {
    const links = cluster.stepAddresses;
    if (FABRIC === 'grpc') {
      assert.deepEqual(links, links.map(() => ''), 'on the grpc fabric the steps go over the Steps stream');
      t.diagnostic(`the ${FABRIC} fabric has no step link: the Steps stream is checked above`);
      return;
    }
    assert.equal(links.filter((a) => a !== '').length, 2, `every rank offers a step link: ${links.join(', ')}`);
    for (const address of links) {
      for (const given of [undefined, 'wrong']) {
        const r = await stepLinkAsOutsider(address, 'intruder', given === undefined ? {} : { clusterToken: given });
        assert.equal(r.code, grpc.status.UNAUTHENTICATED, `${address}: ${r.details}`);
        assert.match(r.details, /belongs to another cluster: missing or wrong cluster token/);
      }
      const r = await stepLinkAsOutsider(address, 'intruder', { clusterToken: token });
      assert.equal(r.code, grpc.status.FAILED_PRECONDITION, `${address}: ${r.details}`);
      assert.match(r.details, /serves communicator .*; the step link names intruder/);
    }
    await assertGoldens(cluster, 5, 40, 4);
  });
});

test('mutual TLS: a cluster with certificates generates the goldens; plaintext and certificate-less callers are refused', async () => {
  const pki = makeTestPki();
  const token = newClusterToken();
  const tls = { ca: pki.ca, cert: pki.cert, key: pki.key };
  const cluster = await Cluster.start({ modelPath: model.modelPath, tp: 2, clusterToken: token, tls, workerCommand: WORKER_COMMAND });
  try {
    await assertGoldens(cluster, 3, 40, 1);
    const reg = cluster.registrations[1];
    assert.ok(reg !== undefined);
    // plaintext: the TLS server never answers a gRPC call
    const plain = workerClient(reg.address);
    const p = statusOf(await health(plain, withToken(token)));
    plain.close();
    assert.equal(p.code, grpc.status.UNAVAILABLE, p.details);
    // TLS that trusts the cluster's CA but shows no client certificate: the handshake fails
    const noCert = workerClient(reg.address, grpc.credentials.createSsl(pki.ca));
    const n = statusOf(await health(noCert, withToken(token)));
    noCert.close();
    assert.equal(n.code, grpc.status.UNAVAILABLE, n.details);
    // the collective endpoint: a caller in plaintext, or with TLS but a certificate another CA
    // signed, never gets a link, even with the token
    const foreign = makeTestPki('foreign');
    try {
      for (const [what, tlsOf] of [['plaintext', undefined], ['a foreign certificate', { ca: pki.ca, cert: foreign.cert, key: foreign.key }]] as const) {
        const refused = await joinAsOutsider(reg.collectiveAddress, { clusterToken: token, ...(tlsOf === undefined ? {} : { tls: tlsOf }) }, 1_500);
        assert.match(refused, /did not form within 1500 ms on rank 1: no accepted stream to rank 0/, `${what}: ${refused}`);
      }
    } finally {
      foreign.remove();
    }
    // with the certificate and the token, a call goes through
    const member = workerClient(reg.address, grpc.credentials.createSsl(pki.ca, pki.key, pki.cert));
    const ok = await health(member, withToken(token));
    member.close();
    assert.ok(!(ok instanceof Error), String(ok));
    assert.equal(ok.rank, 1);
    await assertGoldens(cluster, 4, 40, 2);
  } finally {
    await cluster.close();
    pki.remove();
  }
});
