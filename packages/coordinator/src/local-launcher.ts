// Starts N worker processes on this host and watches them: a worker that exits
// while the cluster runs fails it at once; closing stops every worker (no orphans).
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { CLUSTER_TOKEN_ENV, INTERNAL_TLS_ENV, type InternalTls } from '@octoserve/wire';

/**
 * glibc's malloc tuning for a worker, unless the environment sets it: allocations of 128 KiB and
 * more are mapped and unmapped on their own. By default glibc raises that threshold up to 32 MiB as
 * large blocks are freed, so the weight slices a worker reads, serialises and hands to onnxruntime
 * are freed into its heap and stay resident beside onnxruntime's copy (stories110M shape, tp=1, f32:
 * 895 MiB resident for a 418 MiB shard; 595 with the threshold fixed at its minimum).
 */
export const WORKER_MALLOC_ENV = { MALLOC_MMAP_THRESHOLD_: '131072' } as const;

export interface LaunchOptions {
  /** The command that runs `octoserve worker` (e.g. [process.execPath, '/path/cli/dist/main.js', 'worker']). */
  workerCommand: readonly string[];
  worldSize: number;
  registryAddress: string;
  host?: string;
  threads?: number;
  device?: (rank: number) => string;
  /** Extra environment for the workers. */
  env?: NodeJS.ProcessEnv;
  /** The cluster token the workers demand and send (through OCTOSERVE_CLUSTER_TOKEN). */
  clusterToken?: string;
  /** Mutual TLS for the workers (through OCTOSERVE_INTERNAL_TLS_CA/CERT/KEY). */
  tls?: InternalTls;
  /** Called once when a worker exits before close(). */
  onExit: (rank: number, description: string) => void;
  log?: (line: string) => void;
}

const TAIL_LINES = 20;

/**
 * The workers' environment: ours, `opts.env`, and exactly this cluster's token and TLS material
 * (a token or certificate this process inherited must not leak into workers of an open cluster).
 */
function workerEnv(opts: LaunchOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...WORKER_MALLOC_ENV, ...process.env, ...opts.env };
  for (const name of [CLUSTER_TOKEN_ENV, ...Object.values(INTERNAL_TLS_ENV)]) delete env[name];
  if (opts.clusterToken !== undefined && opts.clusterToken !== '') env[CLUSTER_TOKEN_ENV] = opts.clusterToken;
  if (opts.tls !== undefined) {
    env[INTERNAL_TLS_ENV.ca] = opts.tls.ca.toString('utf8');
    env[INTERNAL_TLS_ENV.cert] = opts.tls.cert.toString('utf8');
    env[INTERNAL_TLS_ENV.key] = opts.tls.key.toString('utf8');
  }
  return env;
}

export class LocalWorkers {
  private readonly children: ChildProcess[] = [];
  private readonly tails: string[][] = [];
  private closing = false;

  constructor(private readonly opts: LaunchOptions) {
    const [cmd, ...args] = opts.workerCommand;
    if (cmd === undefined) throw new Error('workerCommand is empty');
    for (let rank = 0; rank < opts.worldSize; rank++) {
      const child = spawn(cmd, [
        ...args, '--rank', String(rank), '--world', String(opts.worldSize),
        '--listen', `${opts.host ?? '127.0.0.1'}:0`, '--coordinator', opts.registryAddress,
        '--threads', String(opts.threads ?? 1), '--device', opts.device?.(rank) ?? 'cpu',
      ], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: workerEnv(opts) });
      const tail: string[] = [];
      this.tails.push(tail);
      child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
        for (const line of chunk.split('\n')) {
          if (line === '') continue;
          tail.push(line);
          if (tail.length > TAIL_LINES) tail.shift();
          opts.log?.(`[rank ${rank}] ${line}`);
        }
      });
      child.on('exit', (code, signal) => {
        if (this.closing) return;
        const how = signal !== null ? `was killed by ${signal}` : `exited with code ${code}`;
        const last = tail.at(-1);
        opts.onExit(rank, `worker rank ${rank} (pid ${child.pid}) ${how}${last !== undefined ? `; its last log line: ${last}` : ''}`);
      });
      // The IPC channel is only a lifeline: a worker exits when it closes (coordinator gone).
      child.on('error', (err) => opts.onExit(rank, `worker rank ${rank} could not start: ${err.message}`));
      this.children.push(child);
    }
  }

  get pids(): number[] {
    return this.children.map((c) => c.pid ?? -1);
  }

  /** The last lines a worker wrote to stderr. */
  tail(rank: number): readonly string[] {
    return this.tails[rank] ?? [];
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when every worker has exited. */
  async close(graceMs = 2_000): Promise<void> {
    this.closing = true;
    await Promise.all(this.children.map((child) => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) { resolve(); return; }
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      child.once('exit', () => { clearTimeout(timer); resolve(); });
      child.kill('SIGTERM');
    })));
  }
}
