// --fabric: the collective data plane a cluster's ranks all-reduce over, for the commands that
// start ranks (launch, generate --tp, worker). Every rank of a cluster must speak the same one.
import { DEFAULT_FABRIC, FABRIC_ENV, FABRICS, parseFabric } from '@octoserve/collectives';
import type { Fabric } from '@octoserve/collectives';
import type { Option } from 'commander';
import { UsageError } from '../errors.js';
import { choiceFlag, flag, splitList } from './flags.js';

export function fabricFlag(): Option {
  return choiceFlag('--fabric NAME', `the all-reduce data plane between ranks: grpc (gRPC streams) or socket (framed TCP, mutual TLS when ` +
    `configured); every rank of a cluster must speak the same (default $${FABRIC_ENV}, else ${DEFAULT_FABRIC})`, FABRICS);
}

/** --fabric LIST for the benchmarks that run each fabric side by side. */
export function fabricListFlag(): Option {
  return flag('--fabric LIST', `the all-reduce data planes to run side by side: ${FABRICS.join(', ')} (default: $${FABRIC_ENV}, else ${DEFAULT_FABRIC})`)
    .argParser((v: string): Fabric[] => [...new Set(splitList(v).map((f) => {
      try {
        return parseFabric(f, '--fabric');
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
    }))]);
}
