// The cluster commands as the built binary runs them, without a cluster: flag mistakes (exit 2)
// and a cluster that is not there (exit 1, one line, at once).
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { closedPort, runCli } from '@octoserve/testkit';

function assertUsage(args: string[], pattern: RegExp): void {
  const r = runCli(args, { OCTOSERVE_CLUSTER: '127.0.0.1:1' });
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, pattern);
}

describe('flag mistakes exit 2 with one line', () => {
  test('jobs get without an id', () => assertUsage(['jobs', 'get'], /^octoserve jobs get: missing job ID \(see 'octoserve jobs get --help'\)$/m));
  test('jobs cancel with two ids', () => assertUsage(['jobs', 'cancel', 'a', 'b'], /^octoserve jobs cancel: unexpected argument 'b'/));
  test('generate --cluster with --tp', () => assertUsage(['generate', '--cluster', '127.0.0.1:1', '--tp', '2'],
    /^octoserve generate: --tp cannot be used with --cluster: the cluster's own model and options apply/));
  test('jobs submit without --prompt', () => assertUsage(['jobs', 'submit'], /^octoserve jobs submit: --prompt is required/));
  test('jobs list with an unknown state', () => assertUsage(['jobs', 'list', '--state', 'waiting,done'], /--state must be one of waiting, active, completed, failed, cancelled, got 'done'/));
  test('drain --no-wait with --timeout-ms', () => assertUsage(['drain', '--no-wait', '--timeout-ms', '5'], /--timeout-ms applies only while waiting/));
  test('status --deadline-ms 0', () => assertUsage(['status', '--deadline-ms', '0'], /--deadline-ms must be an integer >= 1/));
});

describe('a cluster that is not there', () => {
  let address: string;
  before(async () => { address = `127.0.0.1:${await closedPort()}`; });

  // "At once" is well inside the deadline: the refused connection ends the call, not the deadline
  // (10 s of slack for a loaded host; the CLI alone starts and fails in under a second).
  const withDeadline = (args: string[]): string[] => [...args, '--deadline-ms', '20000'];
  const cases = [withDeadline(['status']), withDeadline(['jobs', 'get', 'some-job']), ['generate', '--prompt', 'hi']];
  for (const args of cases) {
    test(`${args.join(' ')} exits 1 with one UNAVAILABLE line, at once`, () => {
      const start = Date.now();
      const r = runCli([...args, '--cluster', address]);
      assert.ok(Date.now() - start < 10_000, `took ${Date.now() - start} ms`);
      assert.equal(r.status, 1, r.stderr);
      const lines = r.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.equal(lines[0], `octoserve: UNAVAILABLE: the cluster at ${address} is not answering (ECONNREFUSED): ` +
        'is `octoserve launch` running? set --cluster or $OCTOSERVE_CLUSTER');
    });
  }

  test('$OCTOSERVE_CLUSTER is the default address', () => {
    const r = runCli(['jobs', 'cancel', 'j1'], { OCTOSERVE_CLUSTER: address });
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`the cluster at ${address} is not answering`));
  });
});

test('cluster commands have a --help with their usage line', () => {
  for (const args of [['jobs', 'watch'], ['drain']]) {
    const r = runCli([...args, '--help']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^usage: octoserve ${args.join(' ')} `));
    assert.match(r.stdout, /--cluster ADDR/);
  }
});
