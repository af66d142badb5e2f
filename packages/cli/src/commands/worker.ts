// `octoserve worker`: one tensor-parallel rank.
import { startWorker } from '@octoserve/worker';
import type { Command } from './command.js';
import { exitAfterStop } from './lifetime.js';
import { numberFlag, requiredFlag, runWithFlags, stringFlag } from './flags.js';
import { WORKER_SECURITY_FLAGS, internalSecurityFromFlags, securityOptions } from './internal-security.js';

const HELP = `usage: octoserve worker --rank R --world N --listen ADDR --coordinator ADDR [options]

Runs one rank of a tensor-parallel cluster: serves the Worker service on --listen, binds its
all-reduce endpoint on the same host (a free port), registers with the coordinator, then loads
the shard the coordinator assigns (reading only its slices of the checkpoint, or receiving
them streamed) and runs steps until stopped. \`octoserve generate --tp N\` and \`octoserve launch\`
start their workers themselves; start workers by hand to spread a cluster over several hosts.

options:
  --rank R            this worker's rank, 0..N-1
  --world N           the number of ranks (the tensor-parallel degree)
  --listen ADDR       host:port of this worker's Worker service (port 0: any free port)
  --coordinator ADDR  host:port of the coordinator's registry
  --advertise HOST    the host name the coordinator and the other workers reach this worker by
                      (default: the --listen host, or this machine's hostname when --listen is
                      0.0.0.0); e.g. a Kubernetes pod's DNS name
  --collective-port P port of the all-reduce endpoint, on the --listen host (default 0: any free
                      port); fix it where a firewall or a Service must name it
  --device DEV        cpu (default), cuda (GPU 0) or cuda:I (onnxruntime's CUDA provider)
  --threads T         onnxruntime intra-op threads (default 1)
  --register-timeout-ms MS  how long to keep trying to register (default 30000)
  --cluster-token-file FILE  the cluster's shared secret (default $OCTOSERVE_CLUSTER_TOKEN): sent when
                      registering and to the other workers, demanded of every call to this worker
                      (calls without it end UNAUTHENTICATED). Without a token the worker serves
                      anyone who reaches its ports. Never given as a plain flag: ps would show it
  --tls-ca FILE       mutual TLS on every internal link: the cluster's CA certificate (PEM) ...
  --tls-cert FILE     ... this worker's certificate, with a subjectAltName for the host it is
                      reached by (--advertise, or the --listen host) ...
  --tls-key FILE      ... and its private key; all three or none
  -h, --help          show this help

A coordinator that starts its workers itself hands them its token and certificates through the
environment ($OCTOSERVE_CLUSTER_TOKEN, $OCTOSERVE_INTERNAL_TLS_CA/CERT/KEY as PEM text).

The worker exits when the process that started it goes away, on SIGTERM or SIGINT, and when it
cannot register in time. It also exits, with code 75, when its coordinator's step stream ends
(the coordinator stopped, or restarted the cluster after a fault): a supervisor (systemd's
Restart=, a Kubernetes pod) then starts a fresh worker, which registers again.`;

const OPTIONS = {
  rank: { type: 'string' },
  world: { type: 'string' },
  listen: { type: 'string' },
  coordinator: { type: 'string' },
  advertise: { type: 'string' },
  'collective-port': { type: 'string' },
  device: { type: 'string' },
  threads: { type: 'string' },
  'register-timeout-ms': { type: 'string' },
  ...securityOptions(WORKER_SECURITY_FLAGS),
} as const;

/** The exit code of a worker whose coordinator's step stream ended (EX_TEMPFAIL: try again). */
const COORDINATOR_LOST = 75;

export const workerCommand: Command = {
  summary: 'run one tensor-parallel rank (started by generate --tp / launch, or by hand on other hosts)',
  run: (argv) => runWithFlags('worker', HELP, argv, OPTIONS, async (flags) => {
    const worldSize = numberFlag(flags, 'world', 0, { min: 1, max: 64, integer: true });
    const rank = numberFlag(flags, 'rank', -1, { min: 0, max: worldSize - 1, integer: true });
    const security = internalSecurityFromFlags(flags);
    let lost: ((why: string) => void) | undefined;
    const worker = await startWorker({
      onCoordinatorLost: (why) => lost?.(why),
      ...security,
      rank, worldSize, listen: requiredFlag(flags, 'listen'), coordinator: requiredFlag(flags, 'coordinator'),
      advertise: stringFlag(flags, 'advertise'), collectivePort: numberFlag(flags, 'collective-port', 0, { min: 0, max: 65535, integer: true }),
      device: stringFlag(flags, 'device') ?? 'cpu', threads: numberFlag(flags, 'threads', 1, { min: 1, integer: true }),
      registerTimeoutMs: numberFlag(flags, 'register-timeout-ms', 30_000, { min: 1, integer: true }),
    });
    let code = 0;
    await new Promise<void>((resolve) => {
      let stopping = false;
      const stop = (why: string): void => {
        if (stopping) return;
        stopping = true;
        process.stderr.write(`rank ${rank}: stopping (${why})\n`);
        void worker.stop().finally(resolve);
      };
      // the cluster this worker served is gone: exit for its supervisor to start a fresh one, which registers again
      lost = (why) => { code = COORDINATOR_LOST; stop(`${why}; exiting with ${COORDINATOR_LOST} so that a supervisor starts a fresh worker`); };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
      // started by a local coordinator: its IPC channel is our lifeline
      if (process.connected) process.once('disconnect', () => stop('the coordinator process went away'));
    });
    return exitAfterStop(code);
  }),
};
