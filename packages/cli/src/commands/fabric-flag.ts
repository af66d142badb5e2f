// --fabric: the collective data plane a cluster's ranks all-reduce over, for the commands that
// start ranks (launch, generate --tp, worker). Every rank of a cluster must speak the same one.
// --spin-us: how long a rank waiting for a peer polls before it sleeps.
import { DEFAULT_FABRIC, DEFAULT_SPIN_US, FABRIC_ENV, FABRICS, SPIN_ENV, parseFabric, parseSpin } from '@octoserve/collectives';
import type { Fabric, SpinSetting } from '@octoserve/collectives';
import type { Option } from 'commander';
import { UsageError } from '../errors.js';
import { choiceFlag, flag, splitList } from './flags.js';

/** A collectives parser whose errors become usage errors (exit 2, the flag named). */
function asUsage<T>(parse: (v: string) => T): (v: string) => T {
  return (v: string): T => {
    try {
      return parse(v);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  };
}

export function fabricFlag(): Option {
  return choiceFlag('--fabric NAME', `the all-reduce data plane between ranks: shm (the ranks of one host sum through a shared-memory ` +
    `segment; other hosts, or mutual TLS, fall back to socket), socket (framed TCP or Unix-domain sockets, mutual TLS when configured) ` +
    `or grpc (gRPC streams); every rank of a cluster must speak the same (default $${FABRIC_ENV}, else ${DEFAULT_FABRIC})`, FABRICS);
}

/** --fabric LIST for the benchmarks that run each fabric side by side. */
export function fabricListFlag(): Option {
  return flag('--fabric LIST', `the all-reduce data planes to run side by side: ${FABRICS.join(', ')} (default: $${FABRIC_ENV}, else ${DEFAULT_FABRIC})`)
    .argParser((v: string): Fabric[] => [...new Set(splitList(v).map(asUsage((f) => parseFabric(f, '--fabric'))))]);
}

const SPIN_HELP = `how long a rank waiting for a peer's part of an all-reduce keeps polling before it sleeps: microseconds, or auto ` +
  `(${DEFAULT_SPIN_US} when the ranks fit in the cores, else 0: a spinning rank holds its core)`;


/** --spin-us N|auto for the commands that start a cluster (sent to every rank). */
export function spinFlag(): Option {
  return flag('--spin-us N', `${SPIN_HELP} (default: each worker's $${SPIN_ENV}, else auto)`).argParser(asUsage((v) => parseSpin(v, '--spin-us')));
}

/** --spin-us LIST for the benchmark that runs each setting side by side. */
export function spinListFlag(): Option {
  return flag('--spin-us LIST', `the wait spins to run side by side, comma-separated: ${SPIN_HELP} (default: each worker's $${SPIN_ENV}, else auto)`)
    .argParser((v: string): SpinSetting[] => [...new Set(splitList(v).map(asUsage((s) => parseSpin(s, '--spin-us'))))]);
}
