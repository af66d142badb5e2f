// A worker process: serves the Worker service, binds its collective endpoint,
// registers with the coordinator, and lives until told to stop.
import { hostname } from 'node:os';
import * as grpc from '@grpc/grpc-js';
import { Endpoint } from '@octoserve/collectives';
import type { Fabric } from '@octoserve/collectives';
import type { WeightFormat } from '@octoserve/model';
import {
  INTERNAL_CHANNEL_OPTIONS, INTERNAL_SERVER_OPTIONS, internalChannelCredentials, internalClientOptions, internalServerCredentials,
  internalServerOptions, workerServices, guardRequests,
} from '@octoserve/wire';
import type { InternalSecurity, InternalTls, RegisterReply } from '@octoserve/wire';
import { WorkerService } from './worker-service.js';

export interface WorkerOptions {
  rank: number;
  worldSize: number;
  /** host:port of the Worker service (port 0: any free port). */
  listen: string;
  /** host:port of the coordinator's Registry. */
  coordinator: string;
  /** The host name the coordinator and peers reach this worker by (default: the --listen host, or this machine's name when that is a wildcard). */
  advertise?: string;
  /** Port of the all-reduce endpoint (default 0: any free port). */
  collectivePort?: number;
  /** The collective fabric of this rank's endpoint (default: $OCTOSERVE_FABRIC, else the default); every rank must speak the same. */
  fabric?: Fabric;
  device?: string;
  threads?: number;
  /** The matmul weights' format where the coordinator's LoadShard request leaves it empty (default f32). */
  weights?: WeightFormat;
  /** How long to keep trying to register, ms. */
  registerTimeoutMs?: number;
  /**
   * The cluster's shared secret: sent when registering and on every collective stream, and
   * demanded of every call to this worker (Worker service and collective endpoint).
   */
  clusterToken?: string;
  /** Mutual TLS on the Worker service, the collective endpoint and the registry link. */
  tls?: InternalTls;
  log?: (line: string) => void;
  /** The coordinator's step stream ended (see WorkerIdentity.onCoordinatorLost). */
  onCoordinatorLost?: (why: string) => void;
}

export interface RunningWorker {
  address: string;
  collectiveAddress: string;
  service: WorkerService;
  stop(): Promise<void>;
}

function hostOf(address: string): string {
  const i = address.lastIndexOf(':');
  return i < 0 ? address : address.slice(0, i);
}

function bindServer(server: grpc.Server, address: string, tls: InternalTls | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, internalServerCredentials(tls), (err, port) => (err ? reject(new Error(`cannot listen on ${address}: ${err.message}`)) : resolve(port)));
  });
}

/** Calls Registry.Register until the coordinator accepts, or the deadline passes. */
async function register(opts: WorkerOptions, security: InternalSecurity, address: string, collectiveAddress: string): Promise<void> {
  const { Registry } = workerServices();
  const client = new Registry(opts.coordinator, internalChannelCredentials(security.tls), internalClientOptions(INTERNAL_CHANNEL_OPTIONS, security));
  const until = Date.now() + (opts.registerTimeoutMs ?? 30_000);
  let last = '';
  try {
    while (Date.now() < until) {
      const reply = await new Promise<RegisterReply | Error>((resolve) => {
        client.Register({
          rank: opts.rank, worldSize: opts.worldSize, address, collectiveAddress, pid: process.pid, host: hostname(),
          device: opts.device ?? 'cpu', clusterToken: security.clusterToken ?? '',
        }, { deadline: Date.now() + 2_000 }, (err, res) => resolve(err ?? res ?? new Error('empty reply')));
      });
      if (!(reply instanceof Error)) {
        if (reply.accepted) return;
        throw new Error(`coordinator ${opts.coordinator} refused rank ${opts.rank}: ${reply.message}`);
      }
      last = reply.message;
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    client.close();
  }
  throw new Error(`could not register with the coordinator at ${opts.coordinator} within ${(opts.registerTimeoutMs ?? 30_000) / 1000} s (${last})`);
}

export async function startWorker(opts: WorkerOptions): Promise<RunningWorker> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const host = hostOf(opts.listen);
  const wildcard = host === '0.0.0.0' || host === '[::]' || host === '::';
  const shown = opts.advertise ?? (wildcard ? hostname() : host);
  const security: InternalSecurity = { clusterToken: opts.clusterToken ?? '', tls: opts.tls };
  const bound = await Endpoint.bind(`${host}:${opts.collectivePort ?? 0}`, { ...security, ...(opts.fabric === undefined ? {} : { fabric: opts.fabric }) });
  const collectiveAddress = `${shown}:${bound.address.slice(bound.address.lastIndexOf(':') + 1)}`;
  const service = new WorkerService({ rank: opts.rank, worldSize: opts.worldSize, device: opts.device ?? 'cpu', threads: opts.threads ?? 1, weights: opts.weights, log, onCoordinatorLost: opts.onCoordinatorLost, stepLinkHosts: { listen: host, advertise: shown } }, bound, security);
  // every Worker call without the cluster token ends UNAUTHENTICATED before its handler runs
  const server = new grpc.Server(internalServerOptions(INTERNAL_SERVER_OPTIONS, security, 'this worker'));
  server.addService(guardRequests(workerServices().Worker.service, 'octoserve/v1/worker.proto', 'octoserve.v1.Worker'), service.handlers() as unknown as grpc.UntypedServiceImplementation);
  const port = await bindServer(server, opts.listen, opts.tls);
  const address = `${shown}:${port}`;
  const stop = async (): Promise<void> => {
    await service.close().catch((err: unknown) => log(`rank ${opts.rank}: closing the communicator: ${String(err)}`));
    await bound.close();
    server.forceShutdown();
  };
  try {
    await register(opts, security, address, collectiveAddress);
  } catch (err) {
    await stop();
    throw err;
  }
  const guard = [security.clusterToken !== '' ? 'cluster token' : '', opts.tls !== undefined ? 'mutual TLS' : ''].filter((s) => s !== '').join(' + ');
  log(`rank ${opts.rank}/${opts.worldSize}: serving on ${address}, collectives on ${collectiveAddress} (${bound.fabric}), registered with ${opts.coordinator} (${guard || 'open: no cluster token, no TLS'})`);
  return { address, collectiveAddress, service, stop };
}
