// The Worker gRPC service of one rank: communicator, shard, step stream, caches.
import * as grpc from '@grpc/grpc-js';
import { CollectiveError, Communicator, Endpoint, FABRIC_ENV, parseSpin, SocketListener } from '@octoserve/collectives';
import type { SpinSetting } from '@octoserve/collectives';
import { ModelError, openCheckpoint, parseWeightFormat, quantizationHaloSlices, resolveConfig, ropeFrequencies } from '@octoserve/model';
import type { ModelConfig, ModelParams, WeightFormat } from '@octoserve/model';
import type {
  HealthReply, InitCommunicatorReply, InitCommunicatorRequest__Output, InternalSecurity, LoadShardReply, LoadShardRequest__Output,
  ReleaseRequest__Output, StepReply, StepRequest__Output, TensorChunk__Output, UploadShardMessage__Output, WorkerHandlers,
} from '@octoserve/wire';
import { checkDecoded, DEFAULT_MAX_SEQUENCES, encodeStepReply, float32View, QUANT_BLOCK_COLUMNS, readShardSlices, RpcError, uint32View, type AnyShardSlice, type ShardAssignment } from '@octoserve/wire';
import { loadMedusaHeads, medusaShardSlices } from '@octoserve/medusa';
import { KvCache } from './kv-cache.js';
import { assembleShard, segmentShape, ShardLoadError } from './shard-loader.js';
import { ShardRuntime } from './shard-runtime.js';
import type { SequenceStep } from './shard-runtime.js';
import { checkSequence, embeddingRows, invalidStep, localPicked } from './step-codec.js';
import { serveStepLink, serveStepStream, type StepHost } from './step-channels.js';
import { checkGreedy, GreedyRun } from './greedy-run.js';
import { GreedyPick } from './greedy-pick.js';

/** The largest tensor slice an upload may announce (1 GiB of floats). */
const MAX_SLICE_FLOATS = 2 ** 28;

/** What the coordinator is told about `err`: a dead peer is UNAVAILABLE, a bad checkpoint or shard FAILED_PRECONDITION. */
function workerError(err: unknown): RpcError {
  if (err instanceof CollectiveError) return new RpcError(grpc.status.UNAVAILABLE, err.message, { cause: err });
  if (err instanceof ModelError || err instanceof ShardLoadError) return new RpcError(grpc.status.FAILED_PRECONDITION, err.message, { cause: err });
  return RpcError.from(err);
}

interface Loaded {
  config: ModelConfig;
  shard: ShardAssignment;
  runtime: ShardRuntime;
  maxPicked: number;
  maxSequences: number;
  picked: BigInt64Array;    // [maxTokens, maxPicked] local rows
  foreign: Uint8Array;      // [maxTokens, maxPicked] 1 = another rank's id
  greedy: GreedyRun;
}

export interface WorkerIdentity {
  rank: number;
  worldSize: number;
  device: string;
  threads: number;
  /** The matmul weights' format where a load request leaves it empty (default f32). */
  weights?: WeightFormat;
  log: (line: string) => void;
  /** The coordinator's step stream of this worker's communicator ended: the cluster this worker served is gone. */
  onCoordinatorLost?: (why: string) => void;
  /**
   * Where a step link may listen on the socket fabric (the host this worker binds) and the host it
   * is reached at (its advertised name); without it the coordinator steps it over the Steps stream.
   */
  stepLinkHosts?: { listen: string; advertise: string };
}

/**
 * The slice an upload's first chunk announces and the bytes its chunks fill: float32 weights, or
 * (bits 4 / 8) a weight stored block-quantized: its codes, then its float32 scales.
 */
function uploadedSlice(chunk: TensorChunk__Output): { slice: AnyShardSlice; bytes: Uint8Array } {
  const [rows = 0, cols = 1] = chunk.shape;
  const name = chunk.name.slice(0, 200);
  if (chunk.shape.length > 2 || !Number.isSafeInteger(rows * cols) || rows < 0 || cols < 1 || rows * cols > MAX_SLICE_FLOATS) {
    throw new RpcError(grpc.status.INVALID_ARGUMENT, `tensor ${name} has shape [${chunk.shape.join(', ')}]: not a slice this worker can hold (at most ${MAX_SLICE_FLOATS} floats, 2 dimensions)`);
  }
  if (chunk.bits === 0) {
    const data = new Float32Array(rows * cols);
    return { slice: { name: chunk.name, shape: [rows, cols], data }, bytes: new Uint8Array(data.buffer) };
  }
  const { bits, padLeft, padRight } = chunk;
  if ((bits !== 4 && bits !== 8) || padLeft >= QUANT_BLOCK_COLUMNS || padRight >= QUANT_BLOCK_COLUMNS) {
    throw new RpcError(grpc.status.INVALID_ARGUMENT, `tensor ${name}: ${bits}-bit blocks padded ${padLeft} + ${padRight} columns; a quantized slice has 4 or 8 bits and pads under ${QUANT_BLOCK_COLUMNS}`);
  }
  const k = padLeft + cols + padRight;
  const blocks = Math.ceil(k / QUANT_BLOCK_COLUMNS);
  const codeBytes = rows * blocks * (QUANT_BLOCK_COLUMNS * bits) / 8;
  const buffer = new ArrayBuffer(codeBytes + 4 * rows * blocks);
  const q = { bits, n: rows, k, blocks, packed: new Uint8Array(buffer, 0, codeBytes), scales: new Float32Array(buffer, codeBytes, rows * blocks) } as const;
  return { slice: { name: chunk.name, shape: [rows, cols], q, padLeft, padRight }, bytes: new Uint8Array(buffer) };
}

/** A request's spin_us: '' leaves the worker's own setting ($OCTOSERVE_SPIN_US, else auto). */
function spinSetting(value: string): SpinSetting | undefined {
  return value === '' ? undefined : parseSpin(value, 'InitCommunicator spin_us');
}

export class WorkerService {
  private comm: Communicator | undefined;
  private loaded: Loaded | undefined;
  private readonly caches = new Map<number, KvCache>();
  private state: 'idle' | 'loading' | 'ready' | 'stepping' = 'idle';
  private lastStepMs = 0;
  private weightBytes = 0;
  private stepListener: SocketListener | undefined;

  /** `security`: what the communicator presents to its peers (the endpoint was bound with the same). */
  constructor(readonly id: WorkerIdentity, private readonly endpoint: Endpoint, private readonly security: InternalSecurity = {}) {}

  get communicator(): Communicator | undefined { return this.comm; }

  private async initCommunicator(req: InitCommunicatorRequest__Output): Promise<InitCommunicatorReply> {
    if (req.rank !== this.id.rank || req.peerAddresses.length !== this.id.worldSize) {
      throw new RpcError(grpc.status.INVALID_ARGUMENT, `this worker is rank ${this.id.rank} of ${this.id.worldSize}; the request names rank ${req.rank} with ${req.peerAddresses.length} peers`);
    }
    if (this.comm !== undefined) throw new RpcError(grpc.status.FAILED_PRECONDITION, `rank ${this.id.rank} already has a communicator (${this.comm.communicatorId})`);
    if (req.fabric !== '' && req.fabric !== this.endpoint.fabric) {
      throw new RpcError(grpc.status.FAILED_PRECONDITION, `rank ${this.id.rank}'s collective endpoint speaks the ${this.endpoint.fabric} fabric; the cluster runs ` +
        `${req.fabric}: start the worker with --fabric ${req.fabric} (or ${FABRIC_ENV}=${req.fabric})`);
    }
    this.comm = await Communicator.create({
      rank: req.rank, worldSize: req.peerAddresses.length, peers: req.peerAddresses, communicatorId: req.communicatorId,
      endpoint: this.endpoint, deadlineMs: req.deadlineMs || undefined, connectTimeoutMs: req.deadlineMs || undefined,
      allReduceAlgorithm: (req.algorithm || undefined) as never, spinUs: spinSetting(req.spinUs), log: this.id.log,
      clusterToken: this.security.clusterToken, tls: this.security.tls,
    });
    return { stepAddress: await this.listenForSteps() };
  }

  /**
   * On the socket fabric, a listener for the coordinator's step link (the same records, token
   * check and TLS as the collective links); returns its advertised address, '' when there is none.
   */
  private async listenForSteps(): Promise<string> {
    const hosts = this.id.stepLinkHosts;
    if (this.endpoint.fabric === 'grpc' || hosts === undefined) return '';
    const listener = await SocketListener.bind(`${hosts.listen}:0`, this.security);
    listener.serve((link) => serveStepLink(this.stepHost(), link));
    this.stepListener = listener;
    return `${hosts.advertise}:${listener.address.slice(listener.address.lastIndexOf(':') + 1)}`;
  }

  /** What a load request must hold before anything is read: one shard, for this rank, once. */
  private checkLoad(req: LoadShardRequest__Output): ShardAssignment {
    if (this.loaded !== undefined || this.state === 'loading') {
      throw new RpcError(grpc.status.FAILED_PRECONDITION, `rank ${this.id.rank} already holds a shard; a new shard needs a new worker process`);
    }
    const shard = req.shard as ShardAssignment | null;
    if (shard === null || shard.heads === null || shard.kvHeads === null || shard.hidden === null || shard.vocab === null) {
      throw new RpcError(grpc.status.INVALID_ARGUMENT, 'LoadShard needs a whole shard assignment (heads, kv_heads, hidden, vocab)');
    }
    if (shard.rank !== this.id.rank) throw new RpcError(grpc.status.INVALID_ARGUMENT, `assignment is for rank ${shard.rank}; this worker is rank ${this.id.rank}`);
    return shard;
  }

  private async load(req: LoadShardRequest__Output, slices: Iterable<AnyShardSlice>): Promise<LoadShardReply> {
    const t0 = performance.now();
    const shard = this.checkLoad(req);
    let params: ModelParams;
    try {
      params = JSON.parse(req.configJson) as ModelParams;
    } catch (err) {
      throw new RpcError(grpc.status.INVALID_ARGUMENT, `config_json is not JSON (${(err as Error).message})`);
    }
    const config = resolveConfig(params);
    this.state = 'loading';
    try {
      return await this.build(req, config, shard, slices, t0);
    } catch (err) {
      this.state = 'idle';
      throw err;
    }
  }

  private async build(req: LoadShardRequest__Output, config: ModelConfig, shard: ShardAssignment, slices: Iterable<AnyShardSlice>, t0: number): Promise<LoadShardReply> {
    const medusa = req.medusaHeads > 0 ? { heads: req.medusaHeads, layers: req.medusaLayers, topK: Math.max(1, req.medusaTopK) } : undefined;
    const assembled = assembleShard(config, shard, slices, medusa, this.weightFormat(req));
    const maxTokens = Math.max(1, req.maxTokensPerStep || 64);
    const maxPicked = Math.max(1, req.maxPicked || 1);
    const runtime = await ShardRuntime.create(segmentShape(config, shard, config.maxSeqLen), assembled, {
      maxTokens, topK: Math.max(1, req.topK || 1), maxPicked,
      ropeFreqs: ropeFrequencies(config.headDim, config.ropeTheta, config.ropeScaling), threads: this.id.threads, device: this.id.device,
      // a single rank has no all-reduce between its segments: its whole step is one graph
      stack: this.id.worldSize === 1,
    });
    if (runtime.held.widened) {
      this.id.log(`rank ${this.id.rank}: 8-bit blocks with float32 activations widened to float32 at load (the CPU has no fast kernel for them; --weights q8a8 keeps 8 bits)`);
    }
    this.loaded = {
      config, shard, runtime, maxPicked, maxSequences: req.maxSequences || DEFAULT_MAX_SEQUENCES,
      picked: new BigInt64Array(maxTokens * maxPicked), foreign: new Uint8Array(maxTokens * maxPicked),
      greedy: new GreedyRun(runtime, new GreedyPick(shard.rank, shard.tp, config.dim, shard.vocab.start, runtime.embedding)),
    };
    this.caches.clear();
    this.state = 'ready';
    const weightBytes = runtime.held.bytes;
    this.weightBytes = weightBytes;
    const kvBytes = 2 * 4 * config.nLayers * (shard.kvHeads.end - shard.kvHeads.start) * config.headDim * config.maxSeqLen;
    this.id.log(`rank ${this.id.rank}: shard loaded (${this.weightFormat(req)}; ${runtime.held.description}; ${runtime.graphs}) in ${(performance.now() - t0).toFixed(0)} ms`);
    return { weightBytes, kvBytes, loadMs: performance.now() - t0 };
  }

  /** The request's weight format, else this worker's own (--weights), else f32. */
  private weightFormat(req: LoadShardRequest__Output): WeightFormat {
    return parseWeightFormat(req.weights || this.id.weights || '');
  }

  private cacheFor(id: number, reset: boolean, l: Loaded): KvCache {
    let cache = this.caches.get(id);
    if (cache === undefined) {
      if (this.caches.size >= l.maxSequences) {
        throw new RpcError(grpc.status.RESOURCE_EXHAUSTED, `rank ${this.id.rank} holds ${this.caches.size} sequences, its most (${l.maxSequences}); release one first`);
      }
      const { config, shard } = l;
      cache = new KvCache({ nLayers: config.nLayers, nKvHeads: shard.kvHeads.end - shard.kvHeads.start, headDim: config.headDim, maxSeq: config.maxSeqLen });
      this.caches.set(id, cache);
    } else if (reset) {
      cache.reset();
    }
    return cache;
  }

  /** Runs one step request; the reply carries this rank's view of every row. */
  async step(req: StepRequest__Output): Promise<StepReply> {
    const l = this.loaded;
    const comm = this.comm;
    if (l === undefined || comm === undefined) throw new RpcError(grpc.status.FAILED_PRECONDITION, `rank ${this.id.rank} has no ${l === undefined ? 'shard loaded' : 'communicator'} yet`);
    const t0 = performance.now();
    l.runtime.spans.begin(t0, req.trace);
    if (req.sequences.length === 0) throw invalidStep('a step needs at least one sequence');
    // every sequence is checked before any KV cache is taken, so a refused step changes nothing
    for (const s of req.sequences) checkSequence(s, l.config.vocabSize, l.config.maxSeqLen);
    if (req.greedyTokens > 0) checkGreedy(req, l.config.maxSeqLen);
    const x = embeddingRows(req, l.config.dim);
    const seqs: SequenceStep[] = [];
    let rows = 0;
    for (const s of req.sequences) {
      const cache = this.cacheFor(s.sequenceId, s.reset, l);
      if (!s.reset && cache.pending > 0) {
        if (s.keepAll) cache.commit();
        else cache.compact(s.keep);
      }
      const xs = x.subarray(rows * l.config.dim, (rows + s.tokens.length) * l.config.dim);
      seqs.push({ cache, tokens: s.tokens, x: xs, positions: s.positions, treeMask: s.treeMask.length > 0 ? s.treeMask : undefined, temperature: s.temperature,
        uniforms: s.uniforms.length > 0 ? float32View(s.uniforms) : undefined });
      rows += s.tokens.length;
    }
    let foreign: Uint8Array | undefined;
    if (req.pickedIds.length > 0) {
      const ids = uint32View(req.pickedIds);
      if (ids.length !== rows * l.maxPicked) throw invalidStep(`picked_ids holds ${ids.length} ids; ${rows} rows x ${l.maxPicked} expected`);
      foreign = l.foreign.subarray(0, ids.length);
      localPicked(ids, l.shard.vocab, l.picked, foreign);
    }
    this.state = 'stepping';
    let out;
    let chosen: Uint32Array | undefined;
    try {
      out = await l.runtime.step(seqs, comm, foreign === undefined ? undefined : l.picked);
      if (req.greedyTokens > 0) ({ out, chosen } = await l.greedy.run(seqs[0]!, out, comm, req.greedyTokens, req.stopIds));
    } finally {
      this.state = 'ready';
    }
    this.lastStepMs = performance.now() - t0;
    const reply = encodeStepReply(req.stepId, out, l.shard.vocab, foreign, l.runtime.timings, this.lastStepMs, l.runtime.spans.encode());
    // a copy: the run reuses its array
    if (chosen !== undefined) reply.greedyIds = Buffer.from(new Uint8Array(chosen.buffer, chosen.byteOffset, chosen.byteLength));
    return reply;
  }

  private release(req: ReleaseRequest__Output): void {
    for (const id of req.sequenceIds) {
      const cache = this.caches.get(id);
      if (cache === undefined) continue;
      this.loaded?.runtime.forget(cache);
      this.caches.delete(id);
    }
  }

  private health(): HealthReply {
    return { rank: this.id.rank, state: this.state, rssBytes: process.memoryUsage.rss(), lastStepMs: this.lastStepMs, weightBytes: this.weightBytes };
  }

  /** The grpc-js handlers of the Worker service. */
  handlers(): WorkerHandlers {
    const unary = <Req, Res>(fn: (req: Req) => Promise<Res> | Res) =>
      (call: grpc.ServerUnaryCall<Req, Res>, cb: grpc.sendUnaryData<Res>): void => {
        Promise.resolve().then(() => fn(checkDecoded(call.request as object) as Req)).then((res) => cb(null, res), (err: unknown) => cb(workerError(err).toStatus()));
      };
    return {
      InitCommunicator: unary((req: InitCommunicatorRequest__Output) => this.initCommunicator(req)),
      LoadShard: unary(async (req: LoadShardRequest__Output) => {
        const shard = this.checkLoad(req);
        const ckpt = openCheckpoint(req.modelPath);
        try {
          const slices: Iterable<AnyShardSlice>[] = [readShardSlices(ckpt, shard)];
          // quantized, the K-split slices need the columns completing their boundary blocks
          if (this.weightFormat(req) !== 'f32') slices.push(quantizationHaloSlices(ckpt, shard));
          if (req.medusaHeads > 0) {
            const heads = loadMedusaHeads(req.medusaPath, { baseVocab: ckpt.config.vocabSize, baseDim: ckpt.config.dim, log: this.id.log });
            if (heads.numHeads !== req.medusaHeads || heads.numLayers !== req.medusaLayers) {
              throw new RpcError(grpc.status.FAILED_PRECONDITION, `Medusa heads at ${req.medusaPath}: ${heads.numHeads} heads x ${heads.numLayers} layers; the coordinator expects ${req.medusaHeads} x ${req.medusaLayers}`);
            }
            slices.push(medusaShardSlices(heads, shard.vocab));
          }
          return await this.load(req, slices.flatMap((it) => [...it]));
        } finally {
          ckpt.close();
        }
      }),
      UploadShard: (call, cb) => this.upload(call).then((res) => cb(null, res), (err: unknown) => cb(workerError(err).toStatus())),
      Steps: (call) => serveStepStream(this.stepHost(), call),
      Release: unary((req: ReleaseRequest__Output) => { this.release(req); return {}; }),
      Health: unary(() => this.health()),
    };
  }

  /** Collects streamed slices (chunked by byte offset) and loads them. */
  private async upload(call: grpc.ServerReadableStream<UploadShardMessage__Output, LoadShardReply>): Promise<LoadShardReply> {
    let request: LoadShardRequest__Output | undefined;
    const slices = new Map<string, { slice: AnyShardSlice; bytes: Uint8Array }>();
    for await (const msg of call as AsyncIterable<UploadShardMessage__Output>) {
      checkDecoded(msg);
      if (msg.load !== null && msg.load !== undefined) { this.checkLoad(msg.load); request = msg.load; continue; }
      const chunk = msg.tensor;
      if (chunk === null || chunk === undefined) continue;
      let received = slices.get(chunk.name);
      if (received === undefined) {
        received = uploadedSlice(chunk);
        slices.set(chunk.name, received);
      }
      const bytes = received.bytes;
      if (chunk.offset + chunk.data.length > bytes.length) {
        throw new RpcError(grpc.status.INVALID_ARGUMENT, `chunk of ${chunk.name} at byte ${chunk.offset} (+${chunk.data.length}) runs past its ${bytes.length} bytes`);
      }
      bytes.set(chunk.data, chunk.offset);
    }
    if (request === undefined) throw new RpcError(grpc.status.INVALID_ARGUMENT, 'UploadShard stream carried no load request');
    return this.load(request, [...slices.values()].map((r) => r.slice));
  }

  /** What the step channels (step-channels.ts) need of this worker, as it stands when one opens. */
  private stepHost(): StepHost {
    return {
      rank: this.id.rank, communicatorId: this.comm?.communicatorId, step: (req) => this.step(req), spinUs: this.comm?.spinUs ?? 0, statusOf: workerError,
      log: this.id.log, lost: (why) => this.id.onCoordinatorLost?.(why),
    };
  }

  async close(): Promise<void> {
    this.stepListener?.close();
    await this.comm?.close();
  }
}
