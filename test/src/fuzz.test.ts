// Every gRPC endpoint fed seeded inputs: random bytes, valid messages cut short, valid messages
// with bytes changed, and valid-looking messages with extreme values. The client API and Admin
// of a launched coordinator; the Worker, Registry and collective Exchange services of an
// in-process cluster. Each call must end before its deadline with any status but INTERNAL or
// UNKNOWN (an error nobody handled); afterwards every process is alive and the cluster still
// produces the golden greedy tokens. OCTOSERVE_FUZZ_SEED=<seed> replays a run.
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Cluster, ClusterTokenSource, planShards } from '@octoserve/coordinator';
import type { Registration } from '@octoserve/coordinator';
import { findTestModel, generateFrom, loadGoldenCases, openCheckpoint } from '@octoserve/model';
import type { GoldenCase, TestModel } from '@octoserve/model';
import { CLUSTER_TOKEN_METADATA, adminServices, inferenceServices, workerServices } from '@octoserve/wire';
import type {
  ClusterStatusReply__Output, GenerateEvent__Output, GenerateRequest, LoadShardRequest, LoadShardRequest__Output, RegisterRequest__Output, StepRequest, StepRequest__Output,
} from '@octoserve/wire';
import { dropQueue, startCoordinator, uniqueQueue } from './coordinator-process.js';
import { WORKER_COMMAND, alive } from './helpers.js';

const SEED = Number(process.env.OCTOSERVE_FUZZ_SEED ?? 20261127);
const CASES = 1000;            // per endpoint
const IN_FLIGHT = 16;
const DEADLINE_MS = 5_000;     // a call still open after this is a hang
const STREAM_CANCEL_MS = 1_500; // a stream that is sending is cancelled after this (a long generation is no hang)
/** Collective Exchange, as in packages/collectives/src/transport.ts (EXCHANGE_PATH). */
const EXCHANGE_PATH = '/octoserve.v1.Collective/Exchange';

const model: TestModel = await findTestModel();
const golden = loadGoldenCases(model)[0] as GoldenCase;
const config = (() => { const c = openCheckpoint(model.modelPath); c.close(); return c.config; })();

// ---------------------------------------------------------------- seeded inputs

/** mulberry32: a 32-bit state, uniform doubles in [0, 1). */
class Rand {
  private s: number;
  constructor(seed: number) { this.s = seed >>> 0; }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number { return Math.floor(this.next() * n); }
  pick<T>(xs: readonly T[]): T { return xs[this.int(xs.length)] as T; }
  bytes(n: number): Buffer { return Buffer.from(Array.from({ length: n }, () => this.int(256))); }
}

/** Each endpoint its own stream of inputs, from SEED and its name (FNV-1a). */
function seedFor(endpoint: string): number {
  let h = 2166136261 ^ SEED;
  for (let i = 0; i < endpoint.length; i++) h = Math.imul(h ^ endpoint.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** Protobuf by hand, for encodings a serializer never writes: any varint width, wrong wire types, fields in any order. */
const pb = {
  varint(v: bigint): Buffer {
    let x = BigInt.asUintN(64, v);
    const out: number[] = [];
    for (; x >= 0x80n; x >>= 7n) out.push(Number(x & 0x7fn) | 0x80);
    out.push(Number(x));
    return Buffer.from(out);
  },
  key: (field: number, wireType: number): Buffer => pb.varint((BigInt(field) << 3n) | BigInt(wireType)),
  uint: (field: number, v: number | bigint): Buffer => Buffer.concat([pb.key(field, 0), pb.varint(BigInt(v))]),
  len(field: number, body: Buffer | string): Buffer {
    const b = typeof body === 'string' ? Buffer.from(body) : body;
    return Buffer.concat([pb.key(field, 2), pb.varint(BigInt(b.length)), b]);
  },
  fixed32(field: number, v: number): Buffer { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); return Buffer.concat([pb.key(field, 5), b]); },
  float(field: number, v: number): Buffer { const b = Buffer.alloc(4); b.writeFloatLE(v); return Buffer.concat([pb.key(field, 5), b]); },
  fixed64(field: number, v: bigint): Buffer { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt.asUintN(64, v)); return Buffer.concat([pb.key(field, 1), b]); },
};
const cat = (...parts: Buffer[]): Buffer => Buffer.concat(parts);

/** Extremes every message type gets: bad wire types, truncations, deep groups, huge unknown fields. */
const SHAPELESS: Buffer[] = [
  Buffer.alloc(0), Buffer.from([0x80]), Buffer.from([0x08]), Buffer.from([0x0f]), Buffer.from([0x0b]), Buffer.from([0x0c]),
  Buffer.alloc(11, 0xff), Buffer.from([0x0a, 0x05, 0x61]), Buffer.alloc(100_000, 0x0b), pb.len(536_870_911, Buffer.alloc(300_000, 0x5a)),
  cat(pb.uint(1, 1n << 63n), pb.fixed64(2, -1n), pb.fixed32(3, 0xffffffff)),
];

type CaseKind = 'random' | 'truncated' | 'corrupted' | 'extreme';
const KINDS: readonly CaseKind[] = ['random', 'truncated', 'corrupted', 'extreme'];

interface Corpus {
  valid: Buffer[];
  /** Taken in turn, so each one is sent. */
  extreme: Buffer[];
}

function corrupt(r: Rand, v: Buffer): Buffer {
  const b = [...v];
  for (let n = 1 + r.int(4); n > 0; n--) {
    const at = r.int(b.length + 1);
    const op = r.int(4);
    if (op === 0 && at < b.length) b[at] = (b[at] as number) ^ (1 + r.int(255));
    else if (op === 1) b.splice(at, 0, r.int(256));
    else if (op === 2) b.splice(at, 1);
    else if (at < b.length) b[at] = r.pick([0x00, 0x7f, 0x80, 0xff]);
  }
  return Buffer.from(b);
}

/** Case `i` of a corpus: the four kinds in turn. */
function makeCase(r: Rand, c: Corpus, i: number): Buffer {
  const kind = KINDS[i % KINDS.length] as CaseKind;
  if (kind === 'random') return r.bytes(r.int(513));
  if (kind === 'extreme') return c.extreme[Math.floor(i / KINDS.length) % c.extreme.length] as Buffer;
  const v = r.pick(c.valid);
  return kind === 'truncated' ? v.subarray(0, r.int(v.length)) : corrupt(r, v);
}

// ---------------------------------------------------------------- calls and their outcomes

interface Outcome { status: string; details: string }

const raw = (b: Buffer): Buffer => b;
const named = (s: { code: number; details: string }): Outcome => ({ status: grpc.status[s.code] ?? `code ${s.code}`, details: s.details });
const deadline = (): grpc.CallOptions => ({ deadline: Date.now() + DEADLINE_MS });

function unary(client: grpc.Client, path: string, frames: Buffer[], md: grpc.Metadata): Promise<Outcome> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, raw, raw, frames[0] as Buffer, md, deadline(), (err) => resolve(err === null ? { status: 'OK', details: '' } : named(err)));
  });
}

/** A server stream; one still sending after STREAM_CANCEL_MS is cancelled (and counted as such). */
function serverStream(client: grpc.Client, path: string, frames: Buffer[], md: grpc.Metadata): Promise<Outcome> {
  return new Promise((resolve) => {
    const call = client.makeServerStreamRequest(path, raw, raw, frames[0] as Buffer, md, deadline());
    let sending = false;
    let cancelled = false;
    const timer = setTimeout(() => { if (sending) { cancelled = true; call.cancel(); } }, STREAM_CANCEL_MS);
    call.on('data', () => { sending = true; });
    call.on('error', () => { /* the 'status' event carries it */ });
    call.on('status', (s: grpc.StatusObject) => {
      clearTimeout(timer);
      resolve(cancelled ? { status: 'OK, cancelled while streaming', details: '' } : named(s));
    });
  });
}

/** A bidi stream: writes every frame, half-closes, waits for the status. */
function bidi(client: grpc.Client, path: string, frames: Buffer[], md: grpc.Metadata): Promise<Outcome> {
  return new Promise((resolve) => {
    const call = client.makeBidiStreamRequest(path, raw, raw, md, deadline());
    call.on('data', () => { /* replies do not matter, only how the call ends */ });
    call.on('error', () => { /* the 'status' event carries it */ });
    call.on('status', (s: grpc.StatusObject) => resolve(named(s)));
    for (const f of frames) call.write(f);
    call.end();
  });
}

function clientStream(client: grpc.Client, path: string, frames: Buffer[], md: grpc.Metadata): Promise<Outcome> {
  return new Promise((resolve) => {
    const call = client.makeClientStreamRequest(path, raw, raw, md, deadline(), (err) => resolve(err === null ? { status: 'OK', details: '' } : named(err)));
    for (const f of frames) call.write(f);
    call.end();
  });
}

/** Sends one case; `credentials`: with the token the endpoint demands (where it demands one). */
type Send = (frames: Buffer[], i: number, credentials: boolean) => Promise<Outcome>;

/** A connection of its own (grpc-js otherwise shares one per address among its clients). */
const connect = (address: string): grpc.Client => new grpc.Client(address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });

/**
 * Sends case i to `address(i)` with `call`: on a connection this endpoint keeps per address, or,
 * for an extreme case, on a connection of its own, so that a call that breaks its connection (a
 * status too large to send) takes no other case down with it.
 */
function sender(address: (i: number) => string, call: typeof unary, path: string, md: (credentials: boolean) => grpc.Metadata, opened: grpc.Client[]): Send {
  const shared = new Map<string, grpc.Client>();
  return async (frames, i, credentials) => {
    const at = address(i);
    if (KINDS[i % KINDS.length] !== 'extreme') {
      let c = shared.get(at);
      if (c === undefined) { c = connect(at); shared.set(at, c); opened.push(c); }
      return call(c, path, frames, md(credentials));
    }
    const c = connect(at);
    try {
      return await call(c, path, frames, md(credentials));
    } finally {
      c.close();
    }
  };
}

interface Endpoint {
  name: string;
  corpus: Corpus;
  send: Send;
  /** Frames per case (streams): 1 up to this. */
  maxFrames?: number;
  /**
   * A call without the endpoint's token is refused (UNAUTHENTICATED) before its handler runs: one
   * case in four goes without it, and so does every case `unsafe` holds back.
   */
  guarded?: boolean;
  /** Why a frame must not reach the handler (it would change what the cluster does): sent only without the token, or not at all. */
  unsafe?: (frame: Buffer, i: number) => string | undefined;
  /** An outcome that is a failure besides INTERNAL, UNKNOWN and a hang. */
  alsoBad?: (o: Outcome) => boolean;
}

const BAD = new Set(['INTERNAL', 'UNKNOWN', 'DEADLINE_EXCEEDED']);

/** Outcomes per endpoint, and the smallest input behind each kind of failure (up to 3 per endpoint and status). */
class Tally {
  readonly counts = new Map<string, Map<string, number>>();
  private readonly failures = new Map<string, Map<string, { o: Outcome; input: Buffer[] }>>();
  readonly ms = new Map<string, number>();

  record(endpoint: string, input: Buffer[], o: Outcome, bad: boolean): void {
    const byStatus = this.counts.get(endpoint) ?? new Map<string, number>();
    byStatus.set(o.status, (byStatus.get(o.status) ?? 0) + 1);
    this.counts.set(endpoint, byStatus);
    if (!bad) return;
    const group = this.failures.get(`${endpoint}: ${o.status}`) ?? new Map<string, { o: Outcome; input: Buffer[] }>();
    this.failures.set(`${endpoint}: ${o.status}`, group);
    const kind = o.details.replace(/\d+/g, 'N').replace(/['"].*/, '').slice(0, 40);
    const size = (fs: Buffer[]): number => fs.reduce((n, f) => n + f.length, 0);
    const seen = group.get(kind);
    if (seen !== undefined ? size(input) < size(seen.input) : group.size < 3) group.set(kind, { o, input });
  }

  histogram(): string[] {
    return [...this.counts].map(([endpoint, byStatus]) => {
      const n = [...byStatus.values()].reduce((a, b) => a + b, 0);
      return `${endpoint}: ${n} cases in ${((this.ms.get(endpoint) ?? 0) / 1000).toFixed(1)} s; ` +
        [...byStatus].sort((a, b) => b[1] - a[1]).map(([s, k]) => `${s} ${k}`).join(', ');
    });
  }

  /** One line per kind of failure: the status, its details, and the smallest input seen (hex, frames split by |). */
  failureLines(): string[] {
    const hex = (f: Buffer): string => (f.length > 40 ? `${f.subarray(0, 40).toString('hex')}... (${f.length} bytes)` : f.toString('hex') || '(empty)');
    return [...this.failures].flatMap(([key, group]) => [...group.values()].map(({ o, input }) =>
      `${key} "${o.details.slice(0, 160)}" from ${input.map(hex).join(' | ')}`));
  }
}

/** Sends CASES cases to `e`, IN_FLIGHT at a time, and records how each ended. */
async function fuzz(tally: Tally, e: Endpoint): Promise<void> {
  const r = new Rand(seedFor(e.name));
  const cases = Array.from({ length: CASES }, (_, i) => ({
    frames: Array.from({ length: 1 + r.int(e.maxFrames ?? 1) }, (_f, k) => makeCase(r, e.corpus, i + KINDS.length * k)),
    outsider: r.int(4) === 0,
  }));
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    for (let i = next++; i < CASES; i = next++) {
      const { frames, outsider } = cases[i] as { frames: Buffer[]; outsider: boolean };
      const why = frames.map((f) => e.unsafe?.(f, i)).find((w) => w !== undefined);
      if (why !== undefined && e.guarded !== true) { tally.record(e.name, frames, { status: `not sent (${why})`, details: '' }, false); continue; }
      const credentials = e.guarded !== true || (why === undefined && !outsider);
      const o = await e.send(frames, i, credentials);
      const shown = credentials ? o : { ...o, status: `${o.status} without the token${why === undefined ? '' : ` (with it: ${why})`}` };
      tally.record(e.name, frames, shown, BAD.has(o.status) || (!credentials && o.status !== 'UNAUTHENTICATED') || (e.alsoBad?.(o) ?? false));
    }
  }));
  tally.ms.set(e.name, performance.now() - t0);
}

/** Prints the outcomes; returns the failures (asserted last, after the cluster's own checks). */
function report(t: TestContext, tally: Tally): string[] {
  for (const line of tally.histogram()) t.diagnostic(line);
  const failures = tally.failureLines();
  for (const line of failures) t.diagnostic(`FAILURE ${line}`);
  return failures;
}

const noFailures = (failures: string[]): void =>
  assert.equal(failures.length, 0, `seed ${SEED}: ${failures.length} kinds of failure:\n${failures.join('\n')}`);

/** Whether `decode` accepts `bytes` (what the server's deserializer will do with them). */
function decodes(decode: (b: Buffer) => unknown, bytes: Buffer): boolean {
  try {
    decode(bytes);
    return true;
  } catch {
    return false; // not a valid message: exactly what is asked
  }
}

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

const EMPTY_MESSAGE: Corpus = { valid: [Buffer.alloc(0), pb.uint(7, 1), pb.len(99, 'unknown field')], extreme: SHAPELESS };
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
  const coord = await startCoordinator([
    '--model', model.modelPath, '--tp', '2', '--queue', queue, '--max-sequences', '4', '--max-waiting', '8', '--admin-token-file', join(dir, 'admin-token'),
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

/** A CollectiveFrame (collective.proto) by hand. */
const frame = {
  hello: (id: string, worldSize: number | bigint, rank: number | bigint, peerRank: number | bigint, version = 1): Buffer =>
    cat(pb.uint(1, 2), pb.len(16, cat(pb.len(1, id), pb.uint(2, worldSize), pb.uint(3, rank), pb.uint(4, peerRank), pb.len(5, '127.0.0.1:1'), pb.uint(6, version)))),
  data: (seq: bigint, count: number, payload: Buffer): Buffer => cat(pb.uint(1, 1), pb.fixed64(2, seq), pb.fixed32(3, 0), pb.uint(4, 4), pb.fixed32(5, 0),
    pb.fixed32(6, 0), pb.fixed32(7, count), pb.uint(8, 1), pb.fixed32(9, count), pb.len(14, Buffer.alloc(2)), pb.len(15, payload)),
  abort: (reason: string): Buffer => cat(pb.uint(1, 3), pb.len(17, cat(pb.uint(1, 0), pb.len(2, reason)))),
  goodbye: (seq: bigint): Buffer => cat(pb.uint(1, 4), pb.fixed64(2, seq)),
};

test(`fuzzed Worker, Registry and collective Exchange calls (seed ${SEED}): no INTERNAL, UNKNOWN or hang; then the golden greedy tokens`, { timeout: 170_000 }, async (t) => {
  let registryAddress: string | undefined;
  const cluster = await Cluster.start({
    modelPath: model.modelPath, tp: 2, workerCommand: WORKER_COMMAND, clusterToken: CLUSTER_TOKEN,
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
