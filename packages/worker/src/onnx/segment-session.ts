// One graph's onnxruntime session, run synchronously with feeds and fetches made once.
//
// onnxruntime-node's InferenceSession.run is its native binding's synchronous run wrapped in a
// setImmediate, two promises and a fresh results object per call. A decode step at tp=2 runs 25
// graphs, and these wrappers were a fifth of what a rank allocated per step (stories110M shape,
// q4a8: a scavenge every second step, each pausing the rank 0.2-0.4 ms while its peer waits in
// the next all-reduce), besides an event-loop turn per graph. The binding is the package's own
// typed layer (onnxruntime-node/dist/binding), the same native session loaded with the same
// options; this calls it directly.
import ort from 'onnxruntime-node';
import { binding, initOrt } from 'onnxruntime-node/dist/binding.js';

const NO_RUN_OPTIONS: ort.InferenceSession.RunOptions = {};

export class SegmentSession {
  private readonly session = new binding.InferenceSession();

  /** Loads serialised ModelProto bytes (throws what onnxruntime reports for a bad graph). */
  constructor(bytes: Uint8Array, options: ort.InferenceSession.SessionOptions) {
    initOrt();
    this.session.loadModel(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength, options);
  }

  /** Runs the graph: reads `feeds`, writes into the preallocated `fetches` (nothing is returned). */
  run(feeds: Record<string, ort.Tensor>, fetches: Record<string, ort.Tensor>): void {
    this.session.run(feeds, fetches, NO_RUN_OPTIONS);
  }
}
