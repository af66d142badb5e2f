// A step request's greedy run (StepRequest.greedy_tokens): after the requested step the ranks
// choose its token themselves (greedy-pick.ts) and go on with single-token steps, each fed the
// token chosen before, so the coordinator's round trip is paid once for up to MAX_GREEDY_TOKENS
// tokens instead of once per token. The run's buffers are made once; a step allocates nothing here.
import { MAX_GREEDY_TOKENS, type StepRequest__Output } from '@octoserve/wire';
import type { GreedyPick } from './greedy-pick.js';
import type { SequenceStep, ShardRuntime, StepOutputs } from './shard-runtime.js';
import { invalidStep } from './step-codec.js';
import type { AllReducer } from './timed-all-reducer.js';

/** Checks that a request can run greedily on the ranks: one plain sequence whose run stays inside the context. */
export function checkGreedy(req: StepRequest__Output, maxSeq: number): void {
  const n = req.greedyTokens;
  if (n > MAX_GREEDY_TOKENS) throw invalidStep(`greedy_tokens is ${n}; a step runs at most ${MAX_GREEDY_TOKENS}`);
  if (req.sequences.length !== 1) throw invalidStep(`greedy_tokens needs exactly one sequence; the step has ${req.sequences.length}`);
  const s = req.sequences[0]!;
  if (s.treeMask.length > 0 || req.pickedIds.length > 0 || s.uniforms.length > 0) {
    throw invalidStep('greedy_tokens takes a plain step: no tree mask, picked ids or uniforms');
  }
  const last = s.positions[s.positions.length - 1]!;
  if (last + n - 1 >= maxSeq) throw invalidStep(`greedy_tokens ${n} after position ${last} runs past the context (${maxSeq})`);
}

export class GreedyRun {
  /** The tokens the last run chose, one per step it took. */
  private readonly chosen = new Uint32Array(MAX_GREEDY_TOKENS);
  /** The single-token step a run feeds each chosen token to (its cache set per run), and its row [dim]. */
  private readonly step: SequenceStep;
  private readonly steps: SequenceStep[];
  private readonly token = [0];
  private readonly position = [0];
  private readonly totals = { computeMs: 0, allReduceMs: 0 };

  constructor(private readonly runtime: ShardRuntime, private readonly picker: GreedyPick) {
    this.step = { cache: undefined as never, tokens: this.token, x: new Float32Array(runtime.shape.dim), positions: this.position, temperature: 0 };
    this.steps = [this.step];
  }

  /**
   * Chooses up to `n` tokens after the step `first` answered for `seq`, stopping after one in
   * `stopIds`. Returns the last step's outputs and the tokens; the runtime's timings then hold the
   * whole run's onnxruntime and all-reduce time (their count and size stay one step's).
   */
  async run(seq: SequenceStep, first: StepOutputs, comm: AllReducer, n: number, stopIds: readonly number[]): Promise<{ out: StepOutputs; chosen: Uint32Array }> {
    const timings = this.runtime.timings;
    const step = this.step;
    step.cache = seq.cache;
    this.totals.computeMs = 0;
    this.totals.allReduceMs = 0;
    let out = first;
    let position = seq.positions[seq.positions.length - 1]!;
    let count = 0;
    for (;;) {
      const row = out.rows - 1;
      // its exchange is not one of the step's all-reduces (those carry rows x dim floats): it counts in the worker's own time
      const token = await this.picker.pick(out.max[row]!, Number(out.argmax[row]!), comm, step.x);
      this.chosen[count++] = token;
      this.totals.computeMs += timings.computeMs;
      this.totals.allReduceMs += timings.allReduceMs;
      if (count >= n || stopIds.includes(token)) break;
      seq.cache.commit();
      this.token[0] = token;
      this.position[0] = ++position;
      out = await this.runtime.step(this.steps, comm);
    }
    timings.computeMs = this.totals.computeMs;
    timings.allReduceMs = this.totals.allReduceMs;
    return { out, chosen: this.chosen.subarray(0, count) };
  }
}
