// The all-reduce of a tensor-parallel layer on N GPUs behind a switch (every GPU reaches every
// other at its full link bandwidth B, one way): three algorithms, each a startup latency per
// synchronisation round plus the bytes one GPU must take in over its link.
//
// A message of S bytes (every rank holds S bytes; every rank ends with their sum):
//   one-shot  each rank reads the N-1 other ranks' whole buffers and sums locally. One round;
//             a GPU takes in (N-1)*S bytes:                time = a + (N-1) * S / B
//   two-shot  reduce-scatter then all-gather, each done directly: rank r reads the N-1 other
//             ranks' r-th 1/N chunk and sums it (takes in (N-1)/N * S), then reads the N-1
//             summed chunks it lacks (again (N-1)/N * S). Two rounds:
//                                                          time = 2a + 2(N-1)/N * S / B
//   ring      the same 2(N-1)/N * S bytes, in 2(N-1) pipelined neighbour steps. One launch plus
//             a hop latency h per step:                    time = a + 2(N-1) h + 2(N-1)/N * S / B
// One-shot moves N/2 times the bytes of two-shot but saves a round, so it wins below
//   S* = a * B * N / ((N-1)(N-2))   (N > 2; at N = 2 both move S bytes and one-shot always wins),
// which is where `auto` switches. The direct algorithms stage the message in a workspace every peer
// reads (Hardware.directAllReduceMaxBytes); larger messages go to the ring.
import type { Hardware } from './hardware.js';

export type AllReduceAlgorithm = 'oneshot' | 'twoshot' | 'ring';

export interface AllReduceCosts {
  /** Startup latency of one synchronisation round (launch, flags, the first bytes), seconds. */
  roundLatencyS: number;
  /** Latency of one pipelined ring step, seconds. */
  ringHopLatencyS: number;
}

/** Bytes one GPU takes in over its link, as a multiple of the message size S. */
export function allReduceByteFactor(algorithm: AllReduceAlgorithm, ranks: number): number {
  return algorithm === 'oneshot' ? ranks - 1 : (2 * (ranks - 1)) / ranks;
}

/** Seconds for one all-reduce of `bytes` over `ranks` GPUs with `algorithm`. */
export function allReduceTime(algorithm: AllReduceAlgorithm, bytes: number, ranks: number, hw: Hardware, costs: AllReduceCosts): number {
  if (ranks <= 1) return 0;
  const transfer = (allReduceByteFactor(algorithm, ranks) * bytes) / hw.linkBytesPerS;
  switch (algorithm) {
    case 'oneshot': return costs.roundLatencyS + transfer;
    case 'twoshot': return 2 * costs.roundLatencyS + transfer;
    case 'ring': return costs.roundLatencyS + 2 * (ranks - 1) * costs.ringHopLatencyS + transfer;
  }
}

/** The largest message one-shot beats two-shot on (Infinity at 2 ranks). */
export function oneShotMaxBytes(ranks: number, hw: Hardware, costs: AllReduceCosts): number {
  if (ranks <= 2) return Infinity;
  return (costs.roundLatencyS * hw.linkBytesPerS * ranks) / ((ranks - 1) * (ranks - 2));
}

/** What `auto` runs: one-shot for small messages, two-shot up to the workspace, ring above it. */
export function selectAllReduce(bytes: number, ranks: number, hw: Hardware, costs: AllReduceCosts): AllReduceAlgorithm {
  if (bytes > hw.directAllReduceMaxBytes) return 'ring';
  return bytes <= oneShotMaxBytes(ranks, hw, costs) ? 'oneshot' : 'twoshot';
}
