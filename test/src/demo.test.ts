// What `npm start` does on a new machine: deploy/local/start.sh launches eight workers on the
// embedded stories260K and streams a story. Here it runs in a network namespace of its own (no
// network beyond its loopback, so no Redis and no model download) with an empty home directory,
// and the story must be the one llama2.c's run.c tells for the same prompt.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { findTestModel, loadGoldenCases } from '@octoserve/testkit';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const START = join(ROOT, 'deploy', 'local', 'start.sh');

test('npm start, offline with an empty home: eight workers stream the golden "Once upon a time" story', { timeout: 180_000 }, async () => {
  const golden = loadGoldenCases(await findTestModel()).find((c) => c.prompt === 'Once upon a time');
  assert.ok(golden !== undefined, 'golden.json has a "Once upon a time" case');
  const home = mkdtempSync(join(tmpdir(), 'octoserve-demo-home-'));
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: home, TURBO_TELEMETRY_DISABLED: '1', DO_NOT_TRACK: '1' };
  // --port 0: a free port, so the test never collides with a cluster already serving on 50051
  const child = spawn('unshare', ['-n', 'sh', '-c', `ip link set lo up && exec sh "${START}" --port 0`], {
    cwd: home, env, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no demo within 150 s; stderr:\n${stderr}`)), 150_000);
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
        if (/octoserve: demo: \d+ tokens/.test(stderr)) { clearTimeout(timer); resolve(); }
      });
      void exited.then((code) => { clearTimeout(timer); reject(new Error(`start.sh exited (${code}) before the demo; stderr:\n${stderr}`)); });
    });
    assert.equal(stdout, `${golden.text}\n`);
    assert.match(stderr, /starting 8 workers for .*packages\/model\/models\/stories260K\/stories260K\.bin/);
    assert.match(stderr, /octoserve: demo: 252 tokens at [\d.]+ tok\/s \(finish: length\)/);
    // no Redis here: one line says the jobs stay in this process, and nothing is a stack trace
    assert.equal(stderr.split('\n').filter((l) => l.includes('jobs are kept in this process')).length, 1, stderr);
    assert.ok(!/^\s+at /m.test(stderr), `a stack trace in the log:\n${stderr}`);
    assert.ok(!/synthetic/.test(stderr), stderr);
  } finally {
    child.kill('SIGINT');
    const code = await exited;
    rmSync(home, { recursive: true, force: true });
    assert.equal(code, 0, `start.sh stopped with ${code}; stderr:\n${stderr}`);
  }
});
