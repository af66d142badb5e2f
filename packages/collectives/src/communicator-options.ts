// What a Communicator is created with and what each operation takes: the options, their
// defaults, and the checks a world's options must pass before any connection is made.
import { endianness } from 'node:os';
import type { AllReduceAlgorithm, AutoTable } from './auto-select.js';
import type { CollectiveTls } from './auth.js';
import { CollectiveError } from './errors.js';
import type { Fabric } from './fabric.js';
import type { Endpoint } from './transport.js';
import type { SpinSetting } from './wait-spin.js';
import type { WireFormat } from './wire-dtype.js';

export interface CommunicatorOptions {
  rank: number;
  worldSize: number;
  /** Collective address (host:port) of every rank, indexed by rank. */
  peers: readonly string[];
  /** Names this world; a peer with another id is refused. */
  communicatorId: string;
  /** A pre-bound endpoint (Endpoint.bind, e.g. on port 0, with the same clusterToken, tls and fabric); default: bind peers[rank]. */
  endpoint?: Endpoint;
  /**
   * The data plane between ranks (the same on every rank): default the
   * endpoint's fabric when one is given, else OCTOSERVE_FABRIC, else 'grpc'.
   */
  fabric?: Fabric;
  /** The cluster's shared secret: sent on every stream this rank opens, demanded of every stream opened to it. */
  clusterToken?: string;
  /** Mutual TLS between ranks (the cluster's CA, this rank's certificate and key). */
  tls?: CollectiveTls;
  /** Default deadline of each operation, ms (30 000). */
  deadlineMs?: number;
  /** Deadline of world formation, ms (30 000). */
  connectTimeoutMs?: number;
  /** How long close() waits for peers' GOODBYE, ms (5 000). */
  closeTimeoutMs?: number;
  /** All-reduce algorithm when a call names none: default OCTOSERVE_ALLREDUCE_ALGO, else 'auto'. */
  allReduceAlgorithm?: AllReduceAlgorithm;
  /** Crossover table of 'auto' (default: auto-table.ts' table of the fabric). */
  autoTable?: AutoTable;
  /** Most payload bytes per frame (1 MiB); must be the same on every rank. */
  chunkBytes?: number;
  /**
   * How long a rank waiting for a peer's frame keeps polling before it sleeps, µs, or 'auto'
   * (default $OCTOSERVE_SPIN_US, else 'auto': DEFAULT_SPIN_US when the world fits in this host's
   * cores, else 0); see wait-spin.ts.
   */
  spinUs?: SpinSetting;
  /** Where the communicator reports decisions a person may want to know about. */
  log?: (line: string) => void;
}

export interface OpOptions {
  /** Deadline of this operation in ms, counted from when it starts running. */
  deadlineMs?: number;
}

export interface AllReduceOptions extends OpOptions {
  algorithm?: AllReduceAlgorithm;
  /** Element encoding on the wire (f32); bf16/f16 halve the bytes, sums stay float32. */
  wire?: WireFormat;
  /** Where the sum goes (same length as the input); default: in place. */
  output?: Float32Array;
}

export type ScatterGatherAlgorithm = 'ring' | 'direct' | 'auto';

export interface ReduceScatterOptions extends OpOptions {
  algorithm?: ScatterGatherAlgorithm;
  wire?: WireFormat;
  /** Where this rank's summed block goes (length blockLength(L, N, rank)); default: a new array. */
  output?: Float32Array;
}

export interface AllGatherOptions extends OpOptions {
  algorithm?: ScatterGatherAlgorithm;
  /** Where the N blocks go (length N * block); default: a new array. */
  output?: Float32Array;
}

export const DEFAULT_DEADLINE_MS = 30_000;
export const DEFAULT_CHUNK_BYTES = 1 << 20;

/** A bad call or option on this rank. */
export function invalid(message: string): CollectiveError {
  return new CollectiveError('INVALID_ARGUMENT', message);
}

/** Throws INVALID_ARGUMENT for options no world can be formed with. */
export function checkOptions(o: CommunicatorOptions): void {
  if (endianness() !== 'LE') throw invalid('collectives send little-endian floats as raw bytes; this host is big-endian');
  if (!Number.isInteger(o.worldSize) || o.worldSize < 1) throw invalid(`world size ${o.worldSize} must be a positive integer`);
  if (!Number.isInteger(o.rank) || o.rank < 0 || o.rank >= o.worldSize) throw invalid(`rank ${o.rank} is outside 0..${o.worldSize - 1}`);
  if (o.peers.length !== o.worldSize) throw invalid(`${o.peers.length} peer addresses for world size ${o.worldSize}`);
  if (o.communicatorId === '') throw invalid('communicator id is empty');
  const chunk = o.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  if (!Number.isInteger(chunk) || chunk < 1024 || chunk % 4 !== 0) throw invalid(`chunkBytes ${chunk} must be a multiple of 4, at least 1024`);
}
