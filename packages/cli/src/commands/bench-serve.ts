// `octoserve bench serve`: load on a running cluster through its APIs. Side by side in one
// run: streamed completions through the gRPC API and through the OpenAI-compatible HTTP API,
// with 1 client and with N concurrent clients (time to first token, inter-token latency,
// latency, aggregate tokens/s), and jobs (one at a time: submit-to-completed round trip; then
// many at once: throughput). Prints a table and writes JSON.
import { writeFileSync } from 'node:fs';
import OpenAI from 'openai';
import { OctoserveClient } from '@octoserve/client';
import { percentile } from '@octoserve/coordinator';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { clusterAddress, clusterCredentials, clusterFlags, type ClusterFlags } from './cluster-flags.js';
import { action, checkRange, choiceFlag, flag, newCommand, numberFlag, splitList } from './flags.js';
import { fixed, formatTable } from './table.js';

const DESCRIPTION = `Loads a running cluster (\`octoserve launch\`) through its APIs and measures, side by side:
  generate  for each client count C and each API (--api): C clients each stream --requests
            completions back to back, through gRPC (Generate) or HTTP (POST /v1/completions,
            stream: true, as the openai SDK sends it); per request the time to first token
            (TTFT), the gaps between streamed chunks (inter-token latency, ITL, as vLLM's
            benchmark counts it) and the latency; in all, requests/s and generated tokens/s.
            "x grpc" is the HTTP row's tokens/s over the gRPC row's at the same client count
  jobs      --jobs jobs one after another, each submitted then watched to completion: the round
            trip from SubmitJob to the completed job; then --jobs submitted at once: jobs/s and
            tokens/s until the last completes (gRPC only: the job queue has no HTTP API)
Prompts are the same short story openings for every row, greedy, --max-tokens each; four
requests per API before the rows warm the cluster up and are not counted. The two APIs take
turns at each client count, so drift in the machine's speed falls on both.`;

type Api = 'grpc' | 'openai';
const APIS = ['grpc', 'openai', 'both'] as const;

interface ServeFlags extends ClusterFlags {
  api?: (typeof APIS)[number];
  http?: string;
  apiKey?: string;
  clients?: number[];
  requests?: number;
  maxTokens?: number;
  jobs?: number;
  json?: string;
}

/** Requests before the measured rows. */
const WARM_UP = 4;

const PROMPTS = ['Once upon a time', 'One day, a little girl', 'The cat sat', 'Tom and Sue went to the park', 'There was a big tree'];

interface Row {
  what: string;
  /** grpc, openai (HTTP), or grpc for the job rows. */
  api: Api;
  /** tok/s against the first row of the same kind and API (1 client, or one job at a time), in this run. */
  vs_first: number;
  /** An HTTP row's tok/s over the gRPC row's with as many clients, in this run (null without one). */
  vs_grpc: number | null;
  clients: number;
  requests: number;
  latency_ms_p50: number;
  latency_ms_p99: number;
  first_token_ms_p50: number;
  first_token_ms_p99: number;
  inter_token_ms_p50: number;
  inter_token_ms_p99: number;
  requests_per_s: number;
  tokens_per_s: number;
  wall_s: number;
}

/** What one streamed request took: its latency, time to first chunk, the gaps between chunks, its tokens. */
interface Timed { latencyMs: number; firstMs: number; gapsMs: number[]; tokens: number }

/** Times a stream: call `chunk()` at each chunk that carries tokens, `end(tokens)` once done. */
function stopwatch(): { chunk(): void; end(tokens: number): Timed } {
  const start = performance.now();
  let first = 0;
  let last = 0;
  const gapsMs: number[] = [];
  return {
    chunk: () => {
      const now = performance.now();
      if (first === 0) first = now - start;
      else gapsMs.push(now - last);
      last = now;
    },
    end: (tokens) => ({ latencyMs: performance.now() - start, firstMs: first, gapsMs, tokens }),
  };
}

/** One streamed completion through one API. */
type Send = (prompt: string, maxTokens: number) => Promise<Timed>;

function grpcSender(client: OctoserveClient): Send {
  return async (prompt, maxTokens) => {
    const watch = stopwatch();
    const done = await client.complete({ prompt, maxTokens }, { onTokens: () => watch.chunk() });
    return watch.end(done.tokenIds.length);
  };
}

function openaiSender(openai: OpenAI, model: string): Send {
  return async (prompt, maxTokens) => {
    const watch = stopwatch();
    let tokens = 0;
    const stream = await openai.completions.create({ model, prompt, max_tokens: maxTokens, temperature: 0, stream: true, stream_options: { include_usage: true } });
    for await (const chunk of stream) {
      if ((chunk.choices[0]?.text ?? '') !== '') watch.chunk();
      if (chunk.usage) tokens = chunk.usage.completion_tokens;
    }
    return watch.end(tokens);
  };
}

function row(what: string, api: Api, clients: number, timed: readonly Timed[], wallMs: number): Row {
  const tokens = timed.reduce((n, t) => n + t.tokens, 0);
  const latencies = timed.map((t) => t.latencyMs);
  const firsts = timed.filter((t) => t.firstMs > 0).map((t) => t.firstMs);
  const gaps = timed.flatMap((t) => t.gapsMs);
  return {
    what, api, vs_first: 1, vs_grpc: null, clients, requests: timed.length,
    latency_ms_p50: percentile(latencies, 50), latency_ms_p99: percentile(latencies, 99),
    first_token_ms_p50: percentile(firsts, 50), first_token_ms_p99: percentile(firsts, 99),
    inter_token_ms_p50: percentile(gaps, 50), inter_token_ms_p99: percentile(gaps, 99),
    requests_per_s: timed.length / (wallMs / 1000), tokens_per_s: tokens / (wallMs / 1000), wall_s: wallMs / 1000,
  };
}

async function generateLoad(api: Api, send: Send, clients: number, requests: number, maxTokens: number): Promise<Row> {
  const timed: Timed[] = [];
  const t0 = performance.now();
  await Promise.all(Array.from({ length: clients }, async (_, c) => {
    for (let i = 0; i < requests; i++) timed.push(await send(PROMPTS[(c + i) % PROMPTS.length] as string, maxTokens));
  }));
  return row('generate', api, clients, timed, performance.now() - t0);
}

/** Submits a job and follows it to the end; resolves with its tokens. */
async function runJob(client: OctoserveClient, prompt: string, maxTokens: number): Promise<number> {
  const id = await client.submitJob({ prompt, maxTokens });
  for await (const job of client.watchJob(id)) {
    if (job.state === 'JOB_STATE_COMPLETED') return job.tokenIds.length;
    if (job.state === 'JOB_STATE_FAILED' || job.state === 'JOB_STATE_CANCELLED') throw new Error(`job ${id} ${job.state}: ${job.error}`);
  }
  throw new Error(`job ${id}: the watch ended before it finished`);
}

async function timedJob(client: OctoserveClient, i: number, maxTokens: number): Promise<Timed> {
  const start = performance.now();
  const tokens = await runJob(client, PROMPTS[i % PROMPTS.length] as string, maxTokens);
  return { latencyMs: performance.now() - start, firstMs: 0, gapsMs: [], tokens };
}

async function jobLoad(client: OctoserveClient, jobs: number, maxTokens: number): Promise<Row[]> {
  const serial: Timed[] = [];
  let t0 = performance.now();
  for (let i = 0; i < jobs; i++) serial.push(await timedJob(client, i, maxTokens));
  const one = row('job round trip', 'grpc', 1, serial, performance.now() - t0);
  t0 = performance.now();
  const all = await Promise.all(Array.from({ length: jobs }, (_, i) => timedJob(client, i, maxTokens)));
  return [one, row('jobs at once', 'grpc', jobs, all, performance.now() - t0)];
}

/** The HTTP API's base URL: --http, else port 8000 on the --cluster host. */
function httpBase(flags: ServeFlags, grpcAddress: string): string {
  const given = flags.http;
  if (given !== undefined) {
    try {
      return new URL(given).toString().replace(/\/$/, '');
    } catch {
      throw new UsageError(`--http ${given}: not a URL (e.g. http://127.0.0.1:8000)`);
    }
  }
  const host = grpcAddress.replace(/:\d+$/, '');
  return `http://${host}:8000`;
}

/** Fills each row's throughput against the first of its kind and API, and an HTTP row's against gRPC's at as many clients. */
function compare(rows: Row[]): void {
  const kindOf = (r: Row): string => `${r.api} ${r.what === 'generate' ? 'generate' : 'jobs'}`;
  for (const r of rows) {
    r.vs_first = r.tokens_per_s / (rows.find((x) => kindOf(x) === kindOf(r)) as Row).tokens_per_s;
    const grpcRow = rows.find((x) => x.what === r.what && x.api === 'grpc' && x.clients === r.clients);
    r.vs_grpc = r.api === 'openai' && grpcRow !== undefined ? r.tokens_per_s / grpcRow.tokens_per_s : null;
  }
}

/** A sender through the HTTP API at `base`, after checking it answers and naming the model it serves. */
async function openaiAt(base: string, apiKey: string | undefined): Promise<Send> {
  const openai = new OpenAI({ baseURL: `${base}/v1`, apiKey: apiKey ?? 'none', maxRetries: 0, timeout: 60_000 });
  let model: string | undefined;
  try {
    model = (await openai.models.list()).data[0]?.id;
  } catch (err) {
    throw new UsageError(`the HTTP API at ${base} did not answer GET /v1/models (${(err as Error).message}); give its URL with --http, ` +
      'its key with --api-key, or drive gRPC alone with --api grpc');
  }
  if (model === undefined) throw new UsageError(`the HTTP API at ${base} lists no model`);
  return openaiSender(openai, model);
}

export function benchServeCommand(): Command {
  const cmd = clusterFlags(newCommand('serve', {
    usage: '[--cluster ADDR] [--api both] [--http URL] [--clients 1,16] [--requests N] [--max-tokens N] [--jobs N] [--json FILE]',
    summary: 'load a running cluster through gRPC and the OpenAI HTTP API side by side: TTFT, ITL, tok/s at 1 and N clients; job round trips',
    description: DESCRIPTION,
  }))
    .addOption(choiceFlag('--api API', 'which API to drive: grpc, openai (the HTTP API) or both, side by side (default both)', APIS))
    .addOption(flag('--http URL', 'the coordinator\'s HTTP API (default: port 8000 on the --cluster host, as `launch --http-port` defaults)'))
    .addOption(flag('--api-key KEY', 'the HTTP API\'s key, when launched with --api-key (default $OCTOSERVE_API_KEY)'))
    .addOption(flag('--clients LIST', 'client counts to compare (default 1,16)').argParser((v: string) => splitList(v).map((c) => checkRange('clients', Number(c), c, { min: 1, max: 1024, integer: true }))))
    .addOption(numberFlag('--requests N', 'Generate calls per client (default 4)', { min: 1, integer: true }))
    .addOption(numberFlag('--max-tokens N', 'tokens per request (default 64)', { min: 1, integer: true }))
    .addOption(numberFlag('--jobs N', 'jobs for the job rows (default 16; 0 skips them)', { min: 0, integer: true }))
    .addOption(flag('--json FILE', 'also write the results as JSON to FILE'));
  return action<ServeFlags>(cmd, async (flags) => {
    const counts = flags.clients ?? [1, 16];
    const requests = flags.requests ?? 4;
    const maxTokens = flags.maxTokens ?? 64;
    const jobs = flags.jobs ?? 16;
    const apis: Api[] = flags.api === 'grpc' || flags.api === 'openai' ? [flags.api] : ['grpc', 'openai'];
    const credentials = clusterCredentials(flags);
    const client = new OctoserveClient({ address: clusterAddress(flags), deadlineMs: 60_000, ...(credentials === undefined ? {} : { credentials }) });
    const http = httpBase(flags, client.address);
    try {
      await client.waitForReady(10_000);
      const status = await client.clusterStatus();
      const senders = new Map<Api, Send>();
      if (apis.includes('grpc')) senders.set('grpc', grpcSender(client));
      if (apis.includes('openai')) senders.set('openai', await openaiAt(http, flags.apiKey ?? (process.env.OCTOSERVE_API_KEY || undefined)));
      // a few requests per API first, not counted: the workers' and the coordinator's hot functions get compiled
      for (const send of senders.values()) for (let i = 0; i < WARM_UP; i++) await send(PROMPTS[i % PROMPTS.length] as string, maxTokens);
      const rows: Row[] = [];
      for (const c of counts) for (const [api, send] of senders) rows.push(await generateLoad(api, send, c, requests, maxTokens));
      if (jobs > 0 && apis.includes('grpc')) rows.push(...await jobLoad(client, jobs, maxTokens));
      compare(rows);
      process.stdout.write(`cluster ${client.address}${apis.includes('openai') ? ` and ${http}` : ''}: ${status.model?.architecture ?? ''}, tp ${status.tp}, ` +
        `${status.maxSequences} sequences, jobs in ${status.queue?.backend ?? '?'}; ${maxTokens} tokens per request\n`);
      const ms = (v: number): string => (v > 0 ? fixed(v, 1) : '-');
      process.stdout.write(formatTable(['what', 'api', 'clients', 'requests', 'TTFT p50', 'TTFT p99', 'ITL p50', 'ITL p99', 'latency p50', 'latency p99', 'req/s', 'tok/s', 'x first', 'x grpc'],
        rows.map((r) => [r.what, r.api, r.clients, r.requests, ms(r.first_token_ms_p50), ms(r.first_token_ms_p99), ms(r.inter_token_ms_p50), ms(r.inter_token_ms_p99),
          fixed(r.latency_ms_p50, 1), fixed(r.latency_ms_p99, 1), fixed(r.requests_per_s, 2), fixed(r.tokens_per_s, 1), `${fixed(r.vs_first, 2)}x`,
          r.vs_grpc === null ? '-' : `${fixed(r.vs_grpc, 2)}x`])) + '(times in ms)\n');
      const jsonPath = flags.json;
      if (jsonPath !== undefined) {
        writeFileSync(jsonPath, JSON.stringify({
          cluster: client.address, http: apis.includes('openai') ? http : null, tp: status.tp, max_sequences: status.maxSequences, max_tokens: maxTokens,
          backend: status.queue?.backend, rows,
        }, null, 2) + '\n');
      }
    } finally {
      client.close();
    }
    return 0;
  });
}
