// `octoserve launch`: a coordinator in service on this host (@octoserve/coordinator's
// serveCluster); this file maps the flags to its options.
import type { Command } from 'commander';
import { serveCluster } from '@octoserve/coordinator';
import { WEIGHT_FORMATS, type WeightFormat } from '@octoserve/model';
import type { Fabric, SpinSetting } from '@octoserve/collectives';
import { UsageError } from '../errors.js';
import { fabricFlag, spinFlag } from './fabric-flag.js';
import { action, choiceFlag, flag, newCommand, numberFlag } from './flags.js';
import { addSecurityFlags, internalSecurityFromFlags, readFlagFile, securityValues } from './internal-security.js';
import { exitAfterStop } from './lifetime.js';
import { LOG_FORMATS, launchLogLines, logFormatOf } from './log-lines.js';
import { WORKER_COMMAND } from './worker-command.js';

const DESCRIPTION = `Starts a coordinator on this host and serves the Inference API (Generate, jobs) and the Admin
API on --host:--port. Without --expect-workers it starts --tp worker processes here and
supervises them; with --expect-workers N it waits for N workers started elsewhere with
\`octoserve worker --coordinator HOST:PORT\` (the --registry address). Jobs go through a BullMQ
queue in Redis, which any number of coordinators may consume; a job whose coordinator dies is
taken up again by one of them. It prints the address it serves on, and stops on SIGINT or
SIGTERM: running requests end, workers stop, running jobs go back to the queue.`;

const EPILOG = `Log lines (stderr) say when the workers registered, the shards loaded, the address served, and
each job's start and end. \`octoserve status\`, \`jobs\`, \`drain\` and \`resume\` talk to it.`;

/** The internal links' flags: --tls-cert/--tls-key are the client API's. */
const INTERNAL_FLAGS = { tokenFile: 'cluster-token-file', ca: 'internal-tls-ca', cert: 'internal-tls-cert', key: 'internal-tls-key' };

interface LaunchFlags {
  model?: string;
  tokenizer?: string;
  tp?: number;
  host?: string;
  port?: number;
  redis?: string;
  queue?: string;
  jobLockMs?: number;
  jobConcurrency?: number;
  maxSequences?: number;
  maxWaiting?: number;
  medusa?: string;
  medusaChoices?: string;
  load?: 'read' | 'upload';
  weights?: WeightFormat;
  fabric?: Fabric;
  spinUs?: SpinSetting;
  expectWorkers?: number;
  registry?: string;
  stepTimeoutMs?: number;
  startTimeoutMs?: number;
  adminTokenFile?: string;
  tlsCert?: string;
  tlsKey?: string;
  demo?: string;
  demoTokens?: number;
  trace?: string;
  verbose?: boolean;
  logFormat?: string;
  httpPort?: number;
  apiKey?: string;
}

/** The TLS certificate and key of --tls-cert/--tls-key (both or neither). */
function tlsOf(flags: LaunchFlags): { cert: Buffer; key: Buffer } | undefined {
  const { tlsCert: cert, tlsKey: key } = flags;
  if (cert === undefined && key === undefined) return undefined;
  if (cert === undefined || key === undefined) throw new UsageError('--tls-cert and --tls-key go together');
  return { cert: readFlagFile('tls-cert', cert), key: readFlagFile('tls-key', key) };
}

/** --admin-token-file's token, else $OCTOSERVE_ADMIN_TOKEN, else none (the service makes one). */
function adminTokenOf(file: string | undefined): string | undefined {
  const token = file !== undefined ? readFlagFile('admin-token-file', file).toString('utf8').trim() : process.env.OCTOSERVE_ADMIN_TOKEN || undefined;
  if (token === '') throw new UsageError(`--admin-token-file ${file}: the file is empty`);
  return token;
}

export function launchCommand(): Command {
  const cmd = newCommand('launch', {
    usage: '[--model PATH] [--tp 8] [--port 50051] [--redis URL] [--medusa DIR] [options]',
    summary: 'start a coordinator and its workers, and serve the client and admin APIs',
    description: DESCRIPTION,
    epilog: EPILOG,
  })
    .addOption(flag('--model PATH', 'the model, as for `octoserve generate` (default: $OCTOSERVE_MODEL, else the stories260K octoserve carries)'))
    .addOption(flag('--tokenizer FILE', 'use this tokenizer instead of the one beside the model'))
    .addOption(numberFlag('--tp N', 'tensor-parallel degree: local worker processes to start (default 8)', { min: 1, max: 64, integer: true }))
    .addOption(flag('--host HOST', 'where the client API listens (default 127.0.0.1; 0.0.0.0 for all interfaces)'))
    .addOption(numberFlag('--port P', 'its port (default 50051; 0 picks a free one)', { min: 0, max: 65535, integer: true }))
    .addOption(numberFlag('--http-port P', 'the HTTP API (OpenAI-compatible /v1/completions, /v1/chat/completions, /v1/models; /health, /tokenize, ' +
      '/detokenize, /version) on --host:P (default 8000, or a free port if 8000 is taken; 0 picks a free one)', { min: 0, max: 65535, integer: true }))
    .addOption(flag('--api-key KEY', "requests to the HTTP API's /v1 routes must carry `Authorization: Bearer KEY` (default $OCTOSERVE_API_KEY; without either, none is needed)"))
    .addOption(flag('--redis URL', "the job queue's Redis (default: $OCTOSERVE_REDIS_URL). Without either, redis://127.0.0.1:6379 is used if it " +
      'answers, else jobs are kept in this process (not durable: lost if it stops), which it says in one line. A Redis that is given but does not answer is an error.'))
    .addOption(flag('--queue NAME', "the queue's name in Redis (default octoserve-jobs)"))
    .addOption(numberFlag('--job-lock-ms MS', "how long a running job's lock lasts unless renewed; a job whose coordinator died runs again elsewhere " +
      'after about this long (default 30000)', { min: 1_000, integer: true }))
    .addOption(numberFlag('--job-concurrency N', 'jobs this coordinator runs at once (default: --max-sequences)', { min: 1, integer: true }))
    .addOption(numberFlag('--max-sequences N', 'sequences the workers hold at once (KV caches; default 8): Generate calls and jobs beyond it wait for a slot',
      { min: 1, max: 1024, integer: true }))
    .addOption(numberFlag('--max-waiting N', 'Generate calls that may wait for a slot; past it they get RESOURCE_EXHAUSTED (default 64)', { min: 0, integer: true }))
    .addOption(flag('--medusa DIR', 'decode with these Medusa heads (as for `octoserve generate`)'))
    .addOption(flag('--medusa-choices C', 'the candidate tree (as for `octoserve generate`)'))
    .addOption(choiceFlag('--load MODE', 'read (default: each worker reads its slices of --model) or upload (the coordinator streams them; for workers that cannot reach the file)',
      ['read', 'upload']))
    .addOption(choiceFlag('--weights W', 'matmul weights of every worker: f32 (default), q8 or q4 (block-quantized at load, blocks of 32 ' +
      'along the input dimension), q8a8 or q4a8 (the same with int8 activations); the coordinator tells each worker, local or started by hand', WEIGHT_FORMATS))
    .addOption(fabricFlag())
    .addOption(spinFlag())
    .addOption(numberFlag('--expect-workers N', 'start no workers: wait for N to register (implies --tp N)', { min: 1, max: 64, integer: true }))
    .addOption(flag('--registry ADDR', 'host:port where workers register (default 127.0.0.1:0 for local workers; --host:50052 with --expect-workers)'))
    .addOption(numberFlag('--step-timeout-ms MS', 'the most one cluster step may take before the cluster counts as failed (a hung worker or a ' +
      'stalled link) and is restarted (default 5000)', { min: 10, integer: true }))
    .addOption(numberFlag('--start-timeout-ms MS', 'how long to wait for the workers to register and load (default 60000, 600000 with --expect-workers)',
      { min: 1, integer: true }))
    .addOption(flag('--admin-token-file FILE', 'the token Admin calls (status, drain, resume, shutdown) must carry; default $OCTOSERVE_ADMIN_TOKEN, ' +
      'else a new random one, written to ~/.config/octoserve/admin-token-PORT (mode 600) where the CLI on this host finds it, and removed at exit'))
    .addOption(flag('--tls-cert FILE', 'serve the client API over TLS with this certificate chain (PEM) ...'))
    .addOption(flag('--tls-key FILE', '... and its private key; clients then need --tls-ca (or $OCTOSERVE_TLS_CA)'));
  addSecurityFlags(cmd, INTERNAL_FLAGS, {
    tokenFile: "the cluster's shared secret: workers must present it to register, and every internal call (worker RPCs, all-reduce frames) " +
      'carries it (default $OCTOSERVE_CLUSTER_TOKEN; local workers get a new random one each start)',
    ca: 'mutual TLS on every internal link (coordinator <-> workers, workers <-> workers): this CA ...',
    cert: "... this node's certificate ...",
    key: '... and its key; local workers get them too',
  })
    .addOption(flag('--demo PROMPT', 'once serving, generate from PROMPT and stream it to stdout, then keep serving'))
    .addOption(numberFlag('--demo-tokens N', 'tokens for --demo (default: until position 256, as llama2.c\'s run.c -n 256)', { min: 1, integer: true }))
    .addOption(flag('--trace DIR', 'write Chrome traces (chrome://tracing, Perfetto) of the steps into DIR: per rank its segment runs, all-reduce ' +
      "waits, steps and idle time, and the coordinator's round trips, merging and Medusa verification; one file per 1000 steps, the rest at stop"))
    .addOption(flag('--verbose', "show the workers' and the coordinator's log lines"))
    .addOption(choiceFlag('--log-format F', 'text (default: one readable line each) or json (JSON lines with the job id, attempt and rank as fields, ' +
      'the text line as msg; for a log collector); default $OCTOSERVE_LOG_FORMAT, else text', LOG_FORMATS));
  return action<LaunchFlags>(cmd, async (flags) => {
    const expect = flags.expectWorkers ?? 0;
    if (expect > 0 && flags.tp !== undefined && flags.tp !== expect) throw new UsageError('--tp and --expect-workers disagree; give one');
    const host = flags.host ?? '127.0.0.1';
    if (flags.medusa === undefined && flags.medusaChoices !== undefined) throw new UsageError('--medusa-choices needs --medusa DIR');
    const internal = internalSecurityFromFlags(securityValues(cmd, INTERNAL_FLAGS), INTERNAL_FLAGS);
    const verbose = flags.verbose === true;
    const format = logFormatOf(flags.logFormat);
    const lines = launchLogLines(format);
    process.env.OCTOSERVE_LOG_FORMAT = format; // the local workers log in the same format
    const code = await serveCluster({
      model: flags.model, tokenizer: flags.tokenizer,
      tp: expect > 0 ? expect : flags.tp ?? 8,
      workerCommand: expect > 0 ? undefined : WORKER_COMMAND,
      ...(flags.weights === undefined ? {} : { weights: flags.weights }), ...(flags.fabric === undefined ? {} : { fabric: flags.fabric }),
      ...(flags.spinUs === undefined ? {} : { spinUs: flags.spinUs }),
      registry: flags.registry ?? (expect > 0 ? `${host}:50052` : '127.0.0.1:0'),
      loadMode: flags.load ?? 'read',
      host, port: flags.port ?? 50051,
      httpPort: flags.httpPort ?? 8000, httpPortDefault: flags.httpPort === undefined, apiKey: flags.apiKey ?? (process.env.OCTOSERVE_API_KEY || undefined),
      version: cmd.parent?.version() ?? cmd.version(),
      redisUrl: flags.redis ?? (process.env.OCTOSERVE_REDIS_URL || undefined), queueName: flags.queue,
      jobLockMs: flags.jobLockMs ?? 30_000, jobConcurrency: flags.jobConcurrency,
      maxSequences: flags.maxSequences ?? 8, maxWaiting: flags.maxWaiting ?? 64,
      medusa: flags.medusa === undefined ? undefined : { dir: flags.medusa, choices: flags.medusaChoices },
      startTimeoutMs: flags.startTimeoutMs ?? (expect > 0 ? 600_000 : 60_000), stepTimeoutMs: flags.stepTimeoutMs ?? 5_000,
      adminToken: adminTokenOf(flags.adminTokenFile), tls: tlsOf(flags),
      clusterToken: internal.clusterToken, internalTls: internal.tls,
      demo: flags.demo === undefined ? undefined : { prompt: flags.demo, maxTokens: flags.demoTokens },
      say: lines.say,
      ...(flags.trace === undefined ? {} : { trace: { dir: flags.trace } }),
      // JSON lines only: the progress bar's final line becomes one
      ...(format === 'json' ? { progress: { write: (s: string) => { const t = s.trim(); if (t !== '') lines.say(t); }, isTTY: false } } : {}),
      ...(verbose ? { log: lines.log } : {}),
    });
    return exitAfterStop(code);
  });
}
