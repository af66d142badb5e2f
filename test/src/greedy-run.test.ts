// Greedy runs on the ranks (StepRequest.greedy_tokens): the ranks choose the tokens themselves,
// several per step request, and give the tokens the coordinator would have chosen, run.c's goldens.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, ClusterTokenSource } from '@octoserve/coordinator';
import type { StepRunner } from '@octoserve/coordinator';
import { generateFrom } from '@octoserve/model';
import { WORKER_COMMAND } from './helpers.js';
import { findTestModel, loadGoldenCases, type GoldenCase } from '@octoserve/testkit';
import type { SequenceStep } from '@octoserve/wire';

const model = await findTestModel();
const cases: GoldenCase[] = loadGoldenCases(model);

/** `cluster` as a StepRunner that counts the step requests it is sent. */
function counting(cluster: Cluster): StepRunner & { requests: number } {
  const runner = {
    requests: 0, config: cluster.config, options: cluster.options, tracer: cluster.tracer,
    step: (...args: Parameters<Cluster['step']>) => { runner.requests++; return cluster.step(...args); },
  };
  return runner;
}

/** Runs `body` on a fresh cluster of `tp` local workers, closed after. */
async function withCluster(tp: number, body: (cluster: Cluster) => Promise<void>): Promise<void> {
  const cluster = await Cluster.start({ modelPath: model.modelPath, tp, workerCommand: WORKER_COMMAND });
  try {
    await body(cluster);
  } finally {
    await cluster.close();
  }
}

for (const tp of [1, 2, 8]) {
  test(`tp=${tp}: greedy runs of 1, 5 and 16 tokens on the ranks give the goldens, the longer runs in fewer step requests`, async () => {
    await withCluster(tp, async (cluster) => {
      const c = cases[1] as GoldenCase;
      const n = 120;
      const want = c.generated_token_ids.slice(0, n);
      let seq = 1;
      const requests: number[] = [];
      for (const greedyRun of [1, 5, 16]) {
        const runner = counting(cluster);
        const source = new ClusterTokenSource(runner, seq, { temperature: 0, greedyRun });
        const r = await generateFrom(source, c.prompt_token_ids, { maxTokens: n, stopIds: [] });
        await cluster.release([seq++]);
        assert.deepEqual(r.tokenIds, want, `greedy runs of ${greedyRun} at tp=${tp}`);
        // one step a token in the timings, however the requests carried them
        assert.equal(source.timings.wallMs.length, n);
        requests.push(runner.requests);
      }
      // the prefill, then one request a run: ceil((n - 1) / run)
      assert.deepEqual(requests, [n, 1 + Math.ceil((n - 1) / 5), 1 + Math.ceil((n - 1) / 16)]);
    });
  });
}

test('a stop id ends a greedy run on the ranks where the coordinator would have stopped, and the next sequence starts clean', async () => {
  await withCluster(2, async (cluster) => {
    const c = cases[2] as GoldenCase;
    const golden = c.generated_token_ids;
    // a token first chosen in the middle of a run of 16
    const at = golden.findIndex((t, i) => i >= 20 && golden.indexOf(t) === i);
    assert.ok(at > 0, 'the golden output has a token first chosen after position 20');
    const stop = golden[at] as number;
    const source = new ClusterTokenSource(cluster, 1, { temperature: 0 });
    const r = await generateFrom(source, c.prompt_token_ids, { maxTokens: 200, stopIds: [stop] });
    assert.equal(r.finishReason, 'stop');
    assert.deepEqual(r.tokenIds, golden.slice(0, at));
    // the ranks stopped their run at the stop id: no more steps than tokens, the stop's included
    assert.equal(source.timings.wallMs.length, at + 1);
    await cluster.release([1]);
    const again = new ClusterTokenSource(cluster, 2, { temperature: 0 });
    assert.deepEqual((await generateFrom(again, c.prompt_token_ids, { maxTokens: 40, stopIds: [] })).tokenIds, golden.slice(0, 40));
  });
});

test('a decode loop that feeds another token than the run chose gets a clear error, not wrong tokens', async () => {
  await withCluster(2, async (cluster) => {
    const c = cases[0] as GoldenCase;
    const source = new ClusterTokenSource(cluster, 1, { temperature: 0 });
    const ids = c.prompt_token_ids;
    const first = await source.next(ids, ids.map((_, i) => i));
    const second = await source.next([first], [ids.length], { tokens: 10, stopIds: [] });
    assert.equal(second, c.generated_token_ids[1]);
    await assert.rejects(async () => source.next([first], [ids.length + 1], { tokens: 9, stopIds: [] }), /the ranks ran ahead feeding token \d+ at position \d+; the decode loop fed \d+ at \d+/);
  });
});

test('a greedy run the ranks cannot take (two sequences, or past the context) is refused with the reason', async () => {
  const seq = (sequenceId: number, position: number): SequenceStep => ({ sequenceId, tokens: [1], positions: [position], reset: true, keepAll: false, temperature: 0 });
  const refusals: [SequenceStep[], RegExp][] = [
    [[seq(1, 0), seq(2, 0)], /greedy_tokens needs exactly one sequence; the step has 2/],
    [[seq(1, 500)], /greedy_tokens 16 after position 500 runs past the context \(512\)/],
  ];
  for (const [sequences, why] of refusals) {
    await withCluster(2, async (cluster) => {
      await assert.rejects(cluster.step(sequences, undefined, { tokens: 16, stopIds: [] }), why);
    });
  }
});
