// Workers started elsewhere (`launch --expect-workers`): when one dies mid-generation, the
// coordinator restarts the cluster and waits for its workers to register again; the survivors
// exit (code 75) when their coordinator's step stream ends, and their supervisor (here a small
// restart loop standing in for systemd's Restart=) starts them again. The generation goes on
// from its committed tokens and equals the undisturbed run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { OctoserveClient } from '@octoserve/client';
import { freePort } from './calls.js';
import { startCoordinator, uniqueQueue } from './coordinator-process.js';
import { CLI_MAIN } from './helpers.js';
import { findTestModel, loadGoldenCases, type GoldenCase, type TestModel } from '@octoserve/testkit';

const model: TestModel = await findTestModel();
const golden = loadGoldenCases(model)[0] as GoldenCase;

/** One rank kept running like systemd's Restart= would: started again whenever it exits. */
function supervised(rank: number, registry: string): { current: () => ChildProcess; exits: (number | string)[]; stop: () => void } {
  let child: ChildProcess;
  let stopped = false;
  const exits: (number | string)[] = [];
  const start = (): void => {
    child = spawn(process.execPath, [CLI_MAIN, 'worker', '--rank', String(rank), '--world', '2', '--listen', '127.0.0.1:0', '--coordinator', registry], { stdio: 'ignore' });
    child.on('exit', (code, signal) => {
      exits.push(code ?? signal ?? 'unknown');
      if (!stopped) setTimeout(start, 200);
    });
  };
  start();
  return { current: () => child, exits, stop: () => { stopped = true; child.kill('SIGKILL'); } };
}

test('a remote worker SIGKILLed mid-generation: the survivors exit 75, all register again, the output is unchanged', { timeout: 180_000 }, async () => {
  process.env.OCTOSERVE_CLUSTER_TOKEN = `remote-recovery-${process.pid}`;
  const registry = `127.0.0.1:${await freePort()}`;
  const workers = [supervised(0, registry), supervised(1, registry)];
  const coord = await startCoordinator(['--model', model.modelPath, '--expect-workers', '2', '--registry', registry, '--queue', uniqueQueue('remote')]);
  const client = new OctoserveClient({ address: coord.address, deadlineMs: 20_000 });
  try {
    const before = (await client.clusterStatus()).ranks.map((r) => r.pid);
    let killed = false;
    const done = await client.complete({ prompt: golden.prompt, maxTokens: 257 - golden.prompt_token_ids.length }, {
      onTokens: (chunk) => {
        if (!killed) {
          // after the first tokens: kill rank 1 where it runs
          killed = true;
          setTimeout(() => workers[1]?.current().kill('SIGKILL'), 300);
        }
      },
    });
    assert.ok(killed);
    assert.deepEqual(done.tokenIds, golden.generated_token_ids, 'the interrupted generation equals the undisturbed run');
    assert.match(coord.stderr(), /cluster back after \d+ ms \(restart 1\)/);
    assert.deepEqual(workers[0]?.exits, [75], 'the surviving worker exited with 75 when its coordinator\'s step stream ended');
    assert.deepEqual(workers[1]?.exits, ['SIGKILL']);
    const after = (await client.clusterStatus()).ranks;
    assert.ok(after.every((r) => r.state === 'ready' && !before.includes(r.pid)), 'both ranks are fresh processes that registered again');
  } finally {
    client.close();
    for (const w of workers) w.stop();
    await coord.stop();
    delete process.env.OCTOSERVE_CLUSTER_TOKEN;
  }
});
