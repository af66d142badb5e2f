// `octoserve worker`: one tensor-parallel rank (@octoserve/worker's serveWorker); this file maps
// the flags to its options.
import type { Fabric } from '@octoserve/collectives';
import type { Command } from 'commander';
import { WEIGHT_FORMATS, type WeightFormat } from '@octoserve/model';
import { fabricFlag } from './fabric-flag.js';
import { serveWorker } from '@octoserve/worker';
import { action, checkRange, choiceFlag, flag, newCommand, numberFlag, required } from './flags.js';
import { WORKER_SECURITY_FLAGS, addSecurityFlags, internalSecurityFromFlags, securityValues } from './internal-security.js';
import { exitAfterStop } from './lifetime.js';
import { LOG_FORMATS, logFormatOf, workerLogLine } from './log-lines.js';

const DESCRIPTION = `Runs one rank of a tensor-parallel cluster: serves the Worker service on --listen, binds its
all-reduce endpoint on the same host (a free port), registers with the coordinator, then loads
the shard the coordinator assigns (reading only its slices of the checkpoint, or receiving
them streamed) and runs steps until stopped. \`octoserve generate --tp N\` and \`octoserve launch\`
start their workers themselves; start workers by hand to spread a cluster over several hosts.`;

const EPILOG = `A coordinator that starts its workers itself hands them its token and certificates through the
environment ($OCTOSERVE_CLUSTER_TOKEN, $OCTOSERVE_INTERNAL_TLS_CA/CERT/KEY as PEM text).

The worker exits when the process that started it goes away, on SIGTERM or SIGINT, and when it
cannot register in time. It also exits, with code 75, when its coordinator's step channel ends
(on the socket fabric a step link, the collective links' records with the same token check and
TLS; on the gRPC fabric the Steps stream), because the coordinator stopped, or restarted the
cluster after a fault: a supervisor (systemd's
Restart=, a Kubernetes pod) then starts a fresh worker, which registers again.`;

interface WorkerFlags {
  rank?: number;
  world?: number;
  listen?: string;
  coordinator?: string;
  advertise?: string;
  collectivePort?: number;
  fabric?: Fabric;
  device?: string;
  threads?: number;
  weights?: WeightFormat;
  registerTimeoutMs?: number;
  logFormat?: string;
}

export function workerCommand(): Command {
  const cmd = newCommand('worker', {
    usage: '--rank R --world N --listen ADDR --coordinator ADDR [options]',
    summary: 'run one tensor-parallel rank (started by generate --tp / launch, or by hand on other hosts)',
    description: DESCRIPTION,
    epilog: EPILOG,
  })
    .addOption(numberFlag('--rank R', "this worker's rank, 0..N-1", { min: 0, max: 63, integer: true }))
    .addOption(numberFlag('--world N', 'the number of ranks (the tensor-parallel degree)', { min: 1, max: 64, integer: true }))
    .addOption(flag('--listen ADDR', "host:port of this worker's Worker service (port 0: any free port)"))
    .addOption(flag('--coordinator ADDR', "host:port of the coordinator's registry"))
    .addOption(flag('--advertise HOST', 'the host name the coordinator and the other workers reach this worker by (default: the --listen host, ' +
      "or this machine's hostname when --listen is 0.0.0.0); e.g. a Kubernetes pod's DNS name"))
    .addOption(numberFlag('--collective-port P', 'port of the all-reduce endpoint, on the --listen host (default 0: any free port); fix it where ' +
      'a firewall or a Service must name it', { min: 0, max: 65535, integer: true }))
    .addOption(fabricFlag())
    .addOption(flag('--device DEV', "cpu (default), cuda (GPU 0) or cuda:I (onnxruntime's CUDA provider)"))
    .addOption(numberFlag('--threads T', 'onnxruntime intra-op threads (default 1)', { min: 1, integer: true }))
    .addOption(choiceFlag('--weights W', 'matmul weights when the coordinator does not say: f32 (default), q8 or q4 (block-quantized at load), q8a8 or q4a8 (int8 activations)', WEIGHT_FORMATS))
    .addOption(numberFlag('--register-timeout-ms MS', 'how long to keep trying to register (default 30000)', { min: 1, integer: true }))
    .addOption(choiceFlag('--log-format F', 'text (default) or json (JSON lines with the rank as a field, the text line as msg); default $OCTOSERVE_LOG_FORMAT, else text',
      LOG_FORMATS));
  addSecurityFlags(cmd, WORKER_SECURITY_FLAGS, {
    tokenFile: "the cluster's shared secret (default $OCTOSERVE_CLUSTER_TOKEN): sent when registering and to the other workers, demanded of " +
      'every call to this worker (calls without it end UNAUTHENTICATED). Without a token the worker serves anyone who reaches its ports. ' +
      'Never given as a plain flag: ps would show it',
    ca: "mutual TLS on every internal link: the cluster's CA certificate (PEM) ...",
    cert: "... this worker's certificate, with a subjectAltName for the host it is reached by (--advertise, or the --listen host) ...",
    key: '... and its private key; all three or none',
  });
  return action<WorkerFlags>(cmd, async (flags) => {
    const worldSize = required(flags.world, 'world');
    const rank = required(flags.rank, 'rank');
    checkRange('rank', rank, String(rank), { max: worldSize - 1 });
    const security = internalSecurityFromFlags(securityValues(cmd, WORKER_SECURITY_FLAGS));
    const log = workerLogLine(logFormatOf(flags.logFormat), rank);
    const code = await serveWorker({
      ...security,
      rank, worldSize, listen: required(flags.listen, 'listen'), coordinator: required(flags.coordinator, 'coordinator'),
      advertise: flags.advertise, collectivePort: flags.collectivePort ?? 0, ...(flags.fabric === undefined ? {} : { fabric: flags.fabric }),
      device: flags.device ?? 'cpu', threads: flags.threads ?? 1, ...(flags.weights === undefined ? {} : { weights: flags.weights }), registerTimeoutMs: flags.registerTimeoutMs ?? 30_000, log,
    }, log);
    return exitAfterStop(code);
  });
}
