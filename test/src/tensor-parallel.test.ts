// Tensor parallelism end to end: real worker processes, real gRPC, real all-reduce.
// Greedy tokens at every tp equal the single-process reference (and run.c's goldens).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, ClusterTokenSource, mergedArgmax, mergedPicked } from '@octoserve/coordinator';
import { ReferenceEngine, Sampler, generate, generateFrom, openCheckpoint } from '@octoserve/model';
import type { ModelParams } from '@octoserve/model';
import { LONG, WORKER_COMMAND, alive, runCli, writeSynthModel } from './helpers.js';
import { findTestModel, loadGoldenCases, type GoldenCase, type TestModel } from '@octoserve/testkit';

const model: TestModel = await findTestModel();
const cases: GoldenCase[] = loadGoldenCases(model);

async function withCluster<T>(modelPath: string, tp: number, body: (c: Cluster) => Promise<T>, extra: { loadMode?: 'read' | 'upload'; maxPicked?: number; spinUs?: number } = {}): Promise<T> {
  const cluster = await Cluster.start({ modelPath, tp, workerCommand: WORKER_COMMAND, ...extra });
  try {
    return await body(cluster);
  } finally {
    await cluster.close();
  }
}

async function clusterGreedy(cluster: Cluster, promptIds: number[], maxTokens: number, seq = 1): Promise<number[]> {
  const source = new ClusterTokenSource(cluster, seq, { temperature: 0 });
  const r = await generateFrom(source, promptIds, { maxTokens, stopIds: [1, 2] });
  await cluster.release([seq]);
  return r.tokenIds;
}

async function referenceGreedy(modelPath: string, promptIds: number[], maxTokens: number): Promise<number[]> {
  const ckpt = openCheckpoint(modelPath);
  const engine = ReferenceEngine.fromCheckpoint(ckpt);
  ckpt.close();
  const r = await generate(engine, promptIds, { maxTokens, sampler: new Sampler(engine.config.vocabSize, { temperature: 0 }), stopIds: [1, 2] });
  return r.tokenIds;
}

const goldenBudget = (c: GoldenCase): number => 257 - c.prompt_token_ids.length;

test('octoserve generate --tp 8 --json reproduces run.c on two golden cases (ids and text)', async () => {
  for (const c of cases.slice(0, LONG ? cases.length : 2)) {
    const r = await runCli(['generate', '--model', model.modelPath, '--prompt', c.prompt, '--max-tokens', String(goldenBudget(c)), '--tp', '8', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { prompt_token_ids: number[]; token_ids: number[]; text: string; finish_reason: string; stats: Record<string, number> };
    assert.deepEqual(out.prompt_token_ids, c.prompt_token_ids);
    assert.deepEqual(out.token_ids, c.generated_token_ids, `tokens differ for "${c.prompt}"`);
    assert.equal(out.text, c.text);
    // one step per token, plus the step that produced a stop token
    assert.equal(out.stats.steps, out.token_ids.length + (out.finish_reason === 'stop' ? 1 : 0));
    assert.equal(out.stats.allreduces_per_step, 2 * 5, 'exactly two all-reduces per layer (stories260K has 5 layers)');
    for (const key of ['tokens_per_step', 'step_ms_p50', 'allreduce_ms_per_step']) assert.ok(Number.isFinite(out.stats[key]), key);
  }
});

for (const tp of LONG ? [1, 2, 4] : [2, 4]) {
  test(`tp=${tp}: greedy tokens equal the goldens`, async () => {
    await withCluster(model.modelPath, tp, async (cluster) => {
      for (const [i, c] of cases.slice(0, LONG ? cases.length : 1).entries()) {
        assert.deepEqual(await clusterGreedy(cluster, c.prompt_token_ids, goldenBudget(c), i + 1), c.generated_token_ids, `"${c.prompt}" at tp=${tp}`);
      }
    });
  });
}

test('temperature sampling on a cluster: the same seed gives the same tokens, another seed others', async () => {
  const ids = (cases[5] as GoldenCase).prompt_token_ids;
  await withCluster(model.modelPath, 4, async (cluster) => {
    const sample = async (seed: number, seq: number): Promise<number[]> => {
      const source = new ClusterTokenSource(cluster, seq, { temperature: 0.9, seed });
      return (await generateFrom(source, ids, { maxTokens: 60, stopIds: [] })).tokenIds;
    };
    const first = await sample(7, 21);
    assert.deepEqual(await sample(7, 22), first);
    assert.notDeepEqual(await sample(8, 23), first);
    assert.notDeepEqual(first, (cases[5] as GoldenCase).generated_token_ids.slice(0, 60), 'sampling is not greedy');
  });
});

test('a step a worker refuses fails at once with the worker\'s reason, not at the deadline', async () => {
  const cluster = await Cluster.start({ modelPath: model.modelPath, tp: 2, workerCommand: WORKER_COMMAND, maxSequences: 1 });
  try {
    await cluster.step([{ sequenceId: 1, tokens: [1], positions: [0], reset: true, keepAll: false, temperature: 0 }]);
    const t0 = performance.now();
    await assert.rejects(
      cluster.step([{ sequenceId: 2, tokens: [1], positions: [0], reset: true, keepAll: false, temperature: 0 }]),
      /holds 1 sequences, its most \(1\); release one first/,
    );
    assert.ok(performance.now() - t0 < 2_000, 'the refusal arrives before the step deadline');
  } finally {
    await cluster.close();
  }
});

test('ranks that spin while they wait, even more of them than cores, give the goldens; so do ranks that never spin', async () => {
  const c = cases[1] as GoldenCase;
  for (const spinUs of [2000, 0]) {
    await withCluster(model.modelPath, 4, async (cluster) => {
      assert.deepEqual(await clusterGreedy(cluster, c.prompt_token_ids, 30), c.generated_token_ids.slice(0, 30), `spin ${spinUs} us`);
    }, { spinUs });
  }
});

test('shards streamed by the coordinator (--load upload) give the same tokens', async () => {
  const c = cases[1] as GoldenCase;
  await withCluster(model.modelPath, 4, async (cluster) => {
    assert.deepEqual(await clusterGreedy(cluster, c.prompt_token_ids, 80), c.generated_token_ids.slice(0, 80));
  }, { loadMode: 'upload' });
});

test('tp=8 logits match the reference within 1e-4 relative', async () => {
  const c = cases[2] as GoldenCase;
  const ckpt = openCheckpoint(model.modelPath);
  const engine = ReferenceEngine.fromCheckpoint(ckpt);
  ckpt.close();
  const ids = c.prompt_token_ids;
  const ref = engine.step(ids, ids.map((_, i) => i));
  const picked = [0, 1, 2, 3, 100, 255, 400, 511];
  await withCluster(model.modelPath, 8, async (cluster) => {
    const rows = ids.length;
    const pickedIds = new Uint32Array(rows * picked.length);
    for (let r = 0; r < rows; r++) pickedIds.set(picked, r * picked.length);
    const step = await cluster.step([{ sequenceId: 7, tokens: ids, positions: ids.map((_, i) => i), reset: true, keepAll: false, temperature: 0 }], pickedIds);
    const last = rows - 1;
    for (const [j, id] of picked.entries()) {
      const got = mergedPicked(step.ranks, last, j, picked.length);
      const want = ref[id] as number;
      assert.ok(Math.abs(got - want) <= 1e-4 * Math.max(1, Math.abs(want)), `logit of ${id}: ${got} vs ${want}`);
    }
    const best = mergedArgmax(step.ranks, last);
    assert.ok(Math.abs(best.logit - Math.max(...ref)) <= 1e-4 * Math.abs(best.logit));
  }, { maxPicked: picked.length });
});

test('two sequences stepped together each match the reference', async () => {
  const [a, b] = [cases[3] as GoldenCase, cases[4] as GoldenCase];
  await withCluster(model.modelPath, 4, async (cluster) => {
    const seqs = [{ id: 11, c: a }, { id: 12, c: b }].map(({ id, c }) => ({ id, ids: [...c.prompt_token_ids], out: [] as number[], started: false }));
    for (let step = 0; step < 40; step++) {
      const res = await cluster.step(seqs.map((s) => {
        const tokens = s.started ? [s.out.at(-1) as number] : s.ids;
        const start = s.started ? s.ids.length + s.out.length - 1 : 0;
        return { sequenceId: s.id, tokens, positions: tokens.map((_, i) => start + i), reset: !s.started, keepAll: s.started, temperature: 0 };
      }));
      let row = -1;
      for (const s of seqs) {
        row += s.started ? 1 : s.ids.length;
        s.out.push(mergedArgmax(res.ranks, row).id);
        s.started = true;
      }
    }
    assert.deepEqual(seqs[0]?.out, a.generated_token_ids.slice(0, 40));
    assert.deepEqual(seqs[1]?.out, b.generated_token_ids.slice(0, 40));
  });
});

const synthShapes: ModelParams[] = [1, 2, 4, 8].map((nKvHeads) => ({
  dim: 64, hiddenDim: 150, nLayers: 2, nHeads: 8, nKvHeads, vocabSize: 517, maxSeqLen: 96,
}));

for (const params of synthShapes) {
  test(`synthetic model with ${params.nKvHeads} KV heads, FFN 150 and vocabulary 517 (uneven over 8): tp=8 equals the reference`, async () => {
    const path = writeSynthModel(params, params.nKvHeads ?? 1);
    const prompt = [1, 17, 250, 33, 99];
    const want = await referenceGreedy(path, prompt, 40);
    await withCluster(path, 8, async (cluster) => {
      assert.deepEqual(await clusterGreedy(cluster, prompt, 40), want);
    });
  });
}

test('a worker killed mid-generation fails generate within 5 s with a clear message, leaving no process behind', async () => {
  const c = cases[0] as GoldenCase;
  const workerPids = new Set<number>();
  let killedAt = 0;
  const r = await runCli(['generate', '--model', model.modelPath, '--prompt', c.prompt, '--max-tokens', '256', '--tp', '8', '--verbose'], (stderr) => {
    for (const m of stderr.matchAll(/rank \d+ joined from \S+ \(pid (\d+)/g)) workerPids.add(Number(m[1]));
    if (killedAt === 0 && stderr.includes('shards loaded')) {
      // let a few steps run, then kill rank 3
      setTimeout(() => {
        const pid = [...workerPids][3];
        assert.ok(pid !== undefined, 'worker pids were logged');
        killedAt = performance.now();
        process.kill(pid, 'SIGKILL');
      }, 300);
      killedAt = -1;
    }
  });
  const failedAfter = performance.now() - killedAt;
  assert.notEqual(r.code, 0, 'generate must fail');
  assert.ok(failedAfter < 5_000, `generate failed ${failedAfter.toFixed(0)} ms after the kill`);
  assert.match(r.stderr, /octoserve: worker rank \d+ \(pid \d+\) was killed by SIGKILL/, r.stderr.split('\n').slice(-3).join('\n'));
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
  assert.equal(workerPids.size, 8);
  await new Promise((res) => setTimeout(res, 500));
  for (const pid of workerPids) assert.ok(!alive(pid), `worker pid ${pid} is still running`);
});
