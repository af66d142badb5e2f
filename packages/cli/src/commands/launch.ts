// `octoserve launch`: a coordinator in service on this host. Starts (or waits for) the
// workers, loads the shards, opens the job queue, serves the client and admin APIs, and
// stops cleanly on SIGINT/SIGTERM with no worker left behind.
import { Cluster, CoordinatorServer, MemoryJobQueue, SupervisedCluster, newClusterToken, openBullQueue, type ClusterOptions, type JobQueue, type ServedCluster } from '@octoserve/coordinator';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { adminTokenFile } from '@octoserve/client';
import { openModel } from '@octoserve/model';
import type { Command } from './command.js';
import { exitAfterStop } from './lifetime.js';
import { numberFlag, runWithFlags, stringFlag } from './flags.js';
import { WORKER_COMMAND, loadMedusa, widestNode } from './generate.js';
import { internalSecurityFromFlags, readFlagFile, securityOptions } from './internal-security.js';
import { progressBar, type ProgressBar } from './progress.js';
import { UsageError } from '../errors.js';

const HELP = `usage: octoserve launch [--model PATH] [--tp 8] [--port 50051] [--redis URL] [--medusa DIR] [options]

Starts a coordinator on this host and serves the Inference API (Generate, jobs) and the Admin
API on --host:--port. Without --expect-workers it starts --tp worker processes here and
supervises them; with --expect-workers N it waits for N workers started elsewhere with
\`octoserve worker --coordinator HOST:PORT\` (the --registry address). Jobs go through a BullMQ
queue in Redis, which any number of coordinators may consume; a job whose coordinator dies is
taken up again by one of them. It prints the address it serves on, and stops on SIGINT or
SIGTERM: running requests end, workers stop, running jobs go back to the queue.

options:
  --model PATH        the model, as for \`octoserve generate\` (default: $OCTOSERVE_MODEL, else
                      stories260K from the user cache, else a synthetic model)
  --tokenizer FILE    use this tokenizer instead of the one beside the model
  --tp N              tensor-parallel degree: local worker processes to start (default 8)
  --host HOST         where the client API listens (default 127.0.0.1; 0.0.0.0 for all interfaces)
  --port P            its port (default 50051; 0 picks a free one)
  --redis URL         the job queue's Redis (default: $OCTOSERVE_REDIS_URL). Without either,
                      redis://127.0.0.1:6379 is used if it answers, else jobs are kept in this
                      process (not durable: lost if it stops), which it says in one line. A Redis
                      that is given but does not answer is an error.
  --queue NAME        the queue's name in Redis (default octoserve-jobs)
  --job-lock-ms MS    how long a running job's lock lasts unless renewed; a job whose coordinator
                      died runs again elsewhere after about this long (default 30000)
  --job-concurrency N jobs this coordinator runs at once (default: --max-sequences)
  --max-sequences N   sequences the workers hold at once (KV caches; default 8): Generate calls and
                      jobs beyond it wait for a slot
  --max-waiting N     Generate calls that may wait for a slot; past it they get
                      RESOURCE_EXHAUSTED (default 64)
  --medusa DIR        decode with these Medusa heads (as for \`octoserve generate\`)
  --medusa-choices C  the candidate tree (as for \`octoserve generate\`)
  --load MODE         read (default: each worker reads its slices of --model) or upload (the
                      coordinator streams them; for workers that cannot reach the file)
  --expect-workers N  start no workers: wait for N to register (implies --tp N)
  --registry ADDR     host:port where workers register (default 127.0.0.1:0 for local workers;
                      --host:50052 with --expect-workers)
  --step-timeout-ms MS  the most one cluster step may take before the cluster counts as failed
                      (a hung worker or a stalled link) and is restarted (default 5000)
  --start-timeout-ms MS  how long to wait for the workers to register and load (default 60000,
                      600000 with --expect-workers)
  --admin-token-file FILE  the token Admin calls (status, drain, resume, shutdown) must carry; default
                      $OCTOSERVE_ADMIN_TOKEN, else a new random one, written to
                      ~/.config/octoserve/admin-token-PORT (mode 600) where the CLI on this host
                      finds it, and removed at exit
  --tls-cert FILE     serve the client API over TLS with this certificate chain (PEM) ...
  --tls-key FILE      ... and its private key; clients then need --tls-ca (or $OCTOSERVE_TLS_CA)
  --cluster-token-file FILE  the cluster's shared secret: workers must present it to register, and
                      every internal call (worker RPCs, all-reduce frames) carries it (default
                      $OCTOSERVE_CLUSTER_TOKEN; local workers get a new random one each start)
  --internal-tls-ca FILE, --internal-tls-cert FILE, --internal-tls-key FILE
                      mutual TLS on every internal link (coordinator <-> workers, workers <->
                      workers): this CA, this node's certificate and key; local workers get them too
  --demo PROMPT       once serving, generate from PROMPT and stream it to stdout, then keep serving
  --demo-tokens N     tokens for --demo (default 200)
  --verbose           show the workers' and the coordinator's log lines
  -h, --help          show this help

Log lines (stderr) say when the workers registered, the shards loaded, the address served, and
each job's start and end. \`octoserve status\`, \`jobs\`, \`drain\` and \`resume\` talk to it.`;

/** The internal links' flags: --tls-cert/--tls-key are the client API's. */
const INTERNAL_FLAGS = { tokenFile: 'cluster-token-file', ca: 'internal-tls-ca', cert: 'internal-tls-cert', key: 'internal-tls-key' };

const OPTIONS = {
  ...securityOptions(INTERNAL_FLAGS),
  model: { type: 'string' },
  tokenizer: { type: 'string' },
  tp: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  redis: { type: 'string' },
  queue: { type: 'string' },
  'job-lock-ms': { type: 'string' },
  'job-concurrency': { type: 'string' },
  'max-sequences': { type: 'string' },
  'max-waiting': { type: 'string' },
  medusa: { type: 'string' },
  'medusa-choices': { type: 'string' },
  load: { type: 'string' },
  'expect-workers': { type: 'string' },
  registry: { type: 'string' },
  'start-timeout-ms': { type: 'string' },
  'step-timeout-ms': { type: 'string' },
  'admin-token-file': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  demo: { type: 'string' },
  'demo-tokens': { type: 'string' },
  verbose: { type: 'boolean' },
} as const;

const DEFAULT_REDIS = 'redis://127.0.0.1:6379';
const ADMIN_TOKEN_HINT = 'set $OCTOSERVE_ADMIN_TOKEN (a coordinator started without one writes it to ~/.config/octoserve/admin-token-PORT on its host)';

/** The TLS certificate and key of --tls-cert/--tls-key (both or neither). */
function tlsOf(flags: Record<string, string | boolean | undefined>): { cert: Buffer; key: Buffer } | undefined {
  const cert = stringFlag(flags, 'tls-cert');
  const key = stringFlag(flags, 'tls-key');
  if (cert === undefined && key === undefined) return undefined;
  if (cert === undefined || key === undefined) throw new UsageError('--tls-cert and --tls-key go together');
  return { cert: readFlagFile('tls-cert', cert), key: readFlagFile('tls-key', key) };
}

/** Writes a generated admin token where the CLI on this host looks for it (user-only); returns its path. */
function writeAdminToken(port: number, token: string): string {
  const file = adminTokenFile(port);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return file;
}
const say = (line: string): void => { process.stderr.write(`octoserve: ${line}\n`); };

/** The Redis queue asked for; without one, the default Redis if it answers, else an in-process queue. */
async function openQueue(url: string | undefined, name: string | undefined, lockMs: number, log: (line: string) => void): Promise<JobQueue> {
  if (url !== undefined) return openBullQueue({ url, name, lockMs, log });
  try {
    return await openBullQueue({ url: DEFAULT_REDIS, name, lockMs, log, connectTimeoutMs: 1_000 });
  } catch (err) {
    say(`${(err as Error).message}: jobs are kept in this process and lost if it stops (give --redis URL for durable jobs)`);
    return new MemoryJobQueue(log);
  }
}

/** Streams one generation to stdout, as `octoserve generate` prints it. */
async function demo(server: CoordinatorServer, prompt: string, maxTokens: number): Promise<void> {
  const gen = server.engine.check({ prompt, promptTokenIds: [], topK: 0, maxTokens }, 0);
  process.stdout.write(prompt);
  const out = await server.engine.run(gen, { onTokens: (_ids, text) => { process.stdout.write(text); } });
  process.stdout.write('\n');
  say(`demo: ${out.tokenIds.length} tokens at ${out.stats.tokPerS.toFixed(1)} tok/s (finish: ${out.finishReason})`);
}

export const launchCommand: Command = {
  summary: 'start a coordinator and its workers, and serve the client and admin APIs',
  run: (argv) => runWithFlags('launch', HELP, argv, OPTIONS, async (flags) => {
    const expect = numberFlag(flags, 'expect-workers', 0, { min: 1, max: 64, integer: true });
    if (expect > 0 && flags.tp !== undefined && numberFlag(flags, 'tp', 0) !== expect) throw new UsageError('--tp and --expect-workers disagree; give one');
    const tp = expect > 0 ? expect : numberFlag(flags, 'tp', 8, { min: 1, max: 64, integer: true });
    const host = stringFlag(flags, 'host') ?? '127.0.0.1';
    const port = numberFlag(flags, 'port', 50051, { min: 0, max: 65535, integer: true });
    const load = stringFlag(flags, 'load') ?? 'read';
    if (load !== 'read' && load !== 'upload') throw new UsageError(`--load must be read or upload, got '${load}'`);
    const lockMs = numberFlag(flags, 'job-lock-ms', 30_000, { min: 1_000, integer: true });
    const maxSequences = numberFlag(flags, 'max-sequences', 8, { min: 1, max: 1024, integer: true });
    const jobConcurrency = numberFlag(flags, 'job-concurrency', maxSequences, { min: 1, integer: true });
    const maxWaiting = numberFlag(flags, 'max-waiting', 64, { min: 0, integer: true });
    const startTimeoutMs = numberFlag(flags, 'start-timeout-ms', expect > 0 ? 600_000 : 60_000, { min: 1, integer: true });
    const stepTimeoutMs = numberFlag(flags, 'step-timeout-ms', 5_000, { min: 10, integer: true });
    const demoTokens = numberFlag(flags, 'demo-tokens', 200, { min: 1, integer: true });
    const registry = stringFlag(flags, 'registry') ?? (expect > 0 ? `${host}:50052` : '127.0.0.1:0');
    const verbose = flags.verbose === true;
    const log = verbose ? (line: string) => process.stderr.write(`${line}\n`) : () => {};
    const tls = tlsOf(flags);
    const internal = internalSecurityFromFlags(flags, INTERNAL_FLAGS);
    const clusterToken = internal.clusterToken ?? (expect > 0 ? undefined : newClusterToken());
    if (clusterToken === undefined) say('workers are not authenticated: give the coordinator and every worker the same --cluster-token-file');
    const tokenFile = stringFlag(flags, 'admin-token-file');
    const givenToken = tokenFile !== undefined ? readFlagFile('admin-token-file', tokenFile).toString('utf8').trim() : process.env.OCTOSERVE_ADMIN_TOKEN || undefined;
    if (givenToken === '') throw new UsageError(`--admin-token-file ${tokenFile}: the file is empty`);
    const adminToken = givenToken ?? randomBytes(24).toString('base64url');
    const medusaDir = stringFlag(flags, 'medusa');
    if (medusaDir === undefined && flags['medusa-choices'] !== undefined) throw new UsageError('--medusa-choices needs --medusa DIR');

    const model = await openModel({ model: stringFlag(flags, 'model'), tokenizer: stringFlag(flags, 'tokenizer') });
    const modelPath = model.checkpoint.path;
    const medusaChoices = stringFlag(flags, 'medusa-choices');
    const tree = medusaDir === undefined ? undefined : loadMedusa(model.checkpoint.config, { dir: medusaDir, choices: medusaChoices }).tree;
    model.checkpoint.close();
    const queue = await openQueue(stringFlag(flags, 'redis') ?? (process.env.OCTOSERVE_REDIS_URL || undefined), stringFlag(flags, 'queue'), lockMs, say);

    let stopping = false;
    let server: CoordinatorServer | undefined;
    let exitCode = 0;
    let finished: () => void = () => {};
    const done = new Promise<void>((resolve) => { finished = resolve; });
    const stop = (why: string, code: number): void => {
      if (stopping) return;
      stopping = true;
      exitCode = code;
      say(`stopping (${why})`);
      void (server?.close() ?? Promise.resolve()).finally(finished);
    };

    say(expect > 0 ? `waiting for ${tp} workers to register at ${registry}` : `starting ${tp} workers for ${modelPath}`);
    // the first load shows a bar; a restart after a fault logs its own line
    let bar: ProgressBar | undefined = progressBar('shards loaded', tp);
    const clusterOptions: ClusterOptions = {
      modelPath, tp, listen: registry, workerCommand: expect > 0 ? undefined : WORKER_COMMAND, loadMode: load, log, maxSequences, startTimeoutMs, stepTimeoutMs, clusterToken, ...(internal.tls === undefined ? {} : { tls: internal.tls }),
      onShardLoaded: (_rank, loaded) => bar?.update(loaded),
      ...(tree === undefined || medusaDir === undefined ? {} : { medusa: { path: medusaDir, topK: Math.max(...tree.topK) }, maxPicked: widestNode(tree) }),
    };
    let cluster: ServedCluster;
    try {
      // a fault restarts the cluster: local workers are started again here; workers elsewhere exit
      // when their coordinator's step stream ends, and register again once their supervisor restarts them
      cluster = await SupervisedCluster.start({
        start: (onFailure) => Cluster.start({ ...clusterOptions, onFailure }), log: say,
        onGiveUp: (err) => stop(`${err.message}; running jobs go back to the queue`, 1),
      });
    } catch (err) {
      await queue.close();
      throw err;
    }
    bar.done();
    bar = undefined;
    const onSignal = (signal: string): void => {
      if (stopping) { say(`${signal} again: exiting now`); process.exit(130); }
      stop(signal, 0);
    };
    process.on('SIGINT', () => onSignal('SIGINT'));
    process.on('SIGTERM', () => onSignal('SIGTERM'));
    try {
      server = await CoordinatorServer.start({
        cluster, tokenizer: model.tokenizer, queue, host, port, modelPath, jobConcurrency, maxWaiting, log: say,
        adminToken, adminTokenHint: ADMIN_TOKEN_HINT, ...(tls === undefined ? {} : { tls }),
        onShutdown: () => stop('asked to shut down', 0),
        ...(tree === undefined ? {} : { medusa: { tree, name: medusaChoices ?? 'mc_sim_7b_63' } }),
      });
    } catch (err) {
      await queue.close();
      await cluster.close();
      throw err;
    }
    const servedPort = Number(server.address.slice(server.address.lastIndexOf(':') + 1));
    const writtenToken = givenToken === undefined ? writeAdminToken(servedPort, adminToken) : undefined;
    if (writtenToken !== undefined) say(`admin token in ${writtenToken} (for status, drain, resume, shutdown)`);
    say(`serving on ${server.address} (tp ${tp}${tls === undefined ? '' : ', TLS'}, ${queue.durable ? `jobs in ${queue.backend}` : 'jobs in this process'}${tree === undefined ? '' : ', Medusa'}); Ctrl-C stops`);
    const demoPrompt = stringFlag(flags, 'demo');
    if (demoPrompt !== undefined) {
      await demo(server, demoPrompt, demoTokens).catch((err: unknown) => { if (!stopping) say(`demo failed: ${(err as Error).message}`); });
      if (!stopping) say(`still serving on ${server.address}: try \`octoserve generate --cluster ${server.address} --prompt '...'\` or \`octoserve status --cluster ${server.address}\``);
    }
    await done;
    if (writtenToken !== undefined) rmSync(writtenToken, { force: true });
    say('stopped');
    return exitAfterStop(exitCode);
  }),
};
