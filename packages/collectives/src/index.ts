// @octoserve/collectives: one rank's communicator over gRPC streams, framed sockets or a host's
// shared memory (the fabric, see fabric.ts): ring, one-shot, two-shot, star, tree, recursive-doubling
// and shared-memory all-reduce with auto selection, reduce-scatter, all-gather, broadcast,
// barrier, gather, plus the all-reduce benchmark driver.
export { Communicator } from './communicator.js';
export type {
  CommunicatorOptions, OpOptions, AllReduceOptions, ReduceScatterOptions, AllGatherOptions, ScatterGatherAlgorithm,
} from './communicator-options.js';
export { Endpoint } from './transport.js';
export { SocketListener, SocketConnection } from './socket-transport.js';
export { LinkStatus, linkStatusText, type AcceptedLink } from './link.js';
export type { EndpointOptions } from './transport.js';
export { FABRICS, FABRIC_ENV, DEFAULT_FABRIC, parseFabric, fabricFromEnv, resolveFabric } from './fabric.js';
export type { Fabric } from './fabric.js';
export type { TransportSecurity, CollectiveTls } from './auth.js';
export { CollectiveError } from './errors.js';
export type { CollectiveErrorCode } from './errors.js';
export {
  ALL_REDUCE_ALGORITHMS, ALGORITHM_ENV, parseAlgorithm, algorithmFromEnv, selectAllReduce, rulesFor,
} from './auto-select.js';
export type { AllReduceAlgorithm, AllReduceAlgorithmName, AutoRule, AutoTable } from './auto-select.js';
export { AUTO_TABLES } from './auto-table.js';
export { SPIN_ENV, DEFAULT_SPIN_US, MAX_SPIN_US, YIELD_ENV, DEFAULT_YIELD_US, parseSpin, resolveSpinUs, resolveYieldUs, WaitSpin } from './wait-spin.js';
export type { SpinSetting } from './wait-spin.js';
export type { WireFormat } from './wire-dtype.js';
export { blockStart, blockLength } from './partition.js';
export { runAllReduceBench, formatBenchTables, deriveAutoRules, formatAutoRules, benchSizes, DEFAULT_RANK_FLAGS } from './bench.js';
export type { AllReduceBenchOptions, AllReduceBenchResult, AllReduceBenchRow } from './bench.js';
export { buildMpiPeer, runMpiPeer, mpirunArgs, type MpiRow, type MpiTransport } from './mpi-peer.js';
