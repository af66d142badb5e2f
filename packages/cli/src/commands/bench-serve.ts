// `octoserve bench serve`: load on a running cluster through the client API. Side by side in
// one run: Generate with 1 client and with N concurrent clients (latency, time to first
// token, aggregate tokens/s), and jobs (one at a time: submit-to-completed round trip; then
// many at once: throughput). Prints a table and writes JSON.
import { writeFileSync } from 'node:fs';
import { OctoserveClient } from '@octoserve/client';
import { percentile } from '@octoserve/coordinator';
import type { Command } from 'commander';
import { clusterAddress, clusterCredentials, clusterFlags, type ClusterFlags } from './cluster-flags.js';
import { action, checkRange, flag, newCommand, numberFlag, splitList } from './flags.js';
import { fixed, formatTable } from './table.js';

const DESCRIPTION = `Loads a running cluster (\`octoserve launch\`) through its client API and measures, side by side:
  generate  for each client count C: C clients each send --requests Generate calls back to back;
            per call the latency (request to final message) and the time to first token; in all,
            requests/s and generated tokens/s
  jobs      --jobs jobs one after another, each submitted then watched to completion: the round
            trip from SubmitJob to the completed job; then --jobs submitted at once: jobs/s and
            tokens/s until the last completes
Prompts are the same short story openings for every row, greedy, --max-tokens each; four
requests before the rows warm the cluster up and are not counted.`;

interface ServeFlags extends ClusterFlags {
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
  /** tok/s against the first row of the same kind (1 client, or one job at a time), in this run. */
  vs_first: number;
  clients: number;
  requests: number;
  latency_ms_p50: number;
  latency_ms_p99: number;
  first_token_ms_p50: number;
  requests_per_s: number;
  tokens_per_s: number;
  wall_s: number;
}

function row(what: string, clients: number, latencies: number[], firstTokens: number[], tokens: number, wallMs: number): Row {
  return {
    what, vs_first: 1, clients, requests: latencies.length, latency_ms_p50: percentile(latencies, 50), latency_ms_p99: percentile(latencies, 99),
    first_token_ms_p50: percentile(firstTokens, 50), requests_per_s: latencies.length / (wallMs / 1000), tokens_per_s: tokens / (wallMs / 1000), wall_s: wallMs / 1000,
  };
}

async function generateLoad(client: OctoserveClient, clients: number, requests: number, maxTokens: number): Promise<Row> {
  const latencies: number[] = [];
  const firstTokens: number[] = [];
  let tokens = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: clients }, async (_, c) => {
    for (let i = 0; i < requests; i++) {
      const start = performance.now();
      let first = 0;
      const done = await client.complete({ prompt: PROMPTS[(c + i) % PROMPTS.length] as string, maxTokens }, {
        onTokens: () => { if (first === 0) first = performance.now() - start; },
      });
      latencies.push(performance.now() - start);
      firstTokens.push(first);
      tokens += done.tokenIds.length;
    }
  }));
  return row('generate', clients, latencies, firstTokens, tokens, performance.now() - t0);
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

async function jobLoad(client: OctoserveClient, jobs: number, maxTokens: number): Promise<Row[]> {
  const latencies: number[] = [];
  let tokens = 0;
  let t0 = performance.now();
  for (let i = 0; i < jobs; i++) {
    const start = performance.now();
    const n = await runJob(client, PROMPTS[i % PROMPTS.length] as string, maxTokens);
    tokens += n;
    latencies.push(performance.now() - start);
  }
  const serial = row('job round trip', 1, latencies, [], tokens, performance.now() - t0);
  const all: number[] = [];
  tokens = 0;
  t0 = performance.now();
  await Promise.all(Array.from({ length: jobs }, async (_, i) => {
    const start = performance.now();
    const n = await runJob(client, PROMPTS[i % PROMPTS.length] as string, maxTokens);
    tokens += n;
    all.push(performance.now() - start);
  }));
  return [serial, row('jobs at once', jobs, all, [], tokens, performance.now() - t0)];
}

export function benchServeCommand(): Command {
  const cmd = clusterFlags(newCommand('serve', {
    usage: '[--cluster ADDR] [--clients 1,16] [--requests N] [--max-tokens N] [--jobs N] [--json FILE]',
    summary: 'load a running cluster through the client API: Generate at 1 and N clients, job round trips',
    description: DESCRIPTION,
  }))
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
    const credentials = clusterCredentials(flags);
    const client = new OctoserveClient({ address: clusterAddress(flags), deadlineMs: 60_000, ...(credentials === undefined ? {} : { credentials }) });
    try {
      await client.waitForReady(10_000);
      const status = await client.clusterStatus();
      // a few requests first, not counted: the workers' and the coordinator's hot functions get compiled
      for (let i = 0; i < WARM_UP; i++) await client.complete({ prompt: PROMPTS[i % PROMPTS.length] as string, maxTokens });
      const rows: Row[] = [];
      for (const c of counts) rows.push(await generateLoad(client, c, requests, maxTokens));
      if (jobs > 0) rows.push(...await jobLoad(client, jobs, maxTokens));
      // side by side: each row's throughput against the first row of its kind, in this run
      const kindOf = (r: Row): string => (r.what === 'generate' ? 'generate' : 'jobs');
      for (const r of rows) r.vs_first = r.tokens_per_s / (rows.find((x) => kindOf(x) === kindOf(r)) as Row).tokens_per_s;
      process.stdout.write(`cluster ${client.address}: ${status.model?.architecture ?? ''}, tp ${status.tp}, ${status.maxSequences} sequences, ` +
        `jobs in ${status.queue?.backend ?? '?'}; ${maxTokens} tokens per request\n`);
      process.stdout.write(formatTable(['what', 'clients', 'requests', 'p50 ms', 'p99 ms', 'first token p50 ms', 'req/s', 'tok/s', 'x tok/s'],
        rows.map((r) => [r.what, r.clients, r.requests, fixed(r.latency_ms_p50, 1), fixed(r.latency_ms_p99, 1),
          r.first_token_ms_p50 > 0 ? fixed(r.first_token_ms_p50, 1) : '-', fixed(r.requests_per_s, 2), fixed(r.tokens_per_s, 1), `${fixed(r.vs_first, 2)}x`])) + '\n');
      const jsonPath = flags.json;
      if (jsonPath !== undefined) {
        writeFileSync(jsonPath, JSON.stringify({ cluster: client.address, tp: status.tp, max_sequences: status.maxSequences, max_tokens: maxTokens, backend: status.queue?.backend, rows }, null, 2) + '\n');
      }
    } finally {
      client.close();
    }
    return 0;
  });
}
