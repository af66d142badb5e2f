// OctoserveClient without a cluster: job state names, and what a closed port does to each kind of call.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { OctoserveClient } from './client.js';
import { OctoserveError } from './errors.js';
import { closedPort } from '@octoserve/testkit';
import { JOB_STATE_NAMES, isFinishedJobState, jobStateEnum, jobStateName } from './job-state.js';

async function rejection(p: Promise<unknown>): Promise<OctoserveError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof OctoserveError, `expected an OctoserveError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the call to fail');
}

describe('job states', () => {
  test('every name round-trips through the proto enum', () => {
    for (const name of JOB_STATE_NAMES) assert.equal(jobStateName(jobStateEnum(name)), name);
    assert.equal(jobStateEnum('waiting'), 'JOB_STATE_WAITING');
    assert.equal(jobStateEnum('cancelled'), 'JOB_STATE_CANCELLED');
    assert.equal(jobStateName('JOB_STATE_ACTIVE'), 'active');
  });

  test('unspecified and unknown names map to unspecified', () => {
    assert.equal(jobStateName('JOB_STATE_UNSPECIFIED'), 'unspecified');
    assert.equal(jobStateName('JOB_STATE_PAUSED'), 'unspecified');
    assert.equal(jobStateName('waiting'), 'unspecified');
  });

  test('finished states', () => {
    assert.deepEqual(JOB_STATE_NAMES.filter(isFinishedJobState), ['completed', 'failed', 'cancelled']);
    assert.equal(isFinishedJobState('JOB_STATE_FAILED'), true);
    assert.equal(isFinishedJobState('JOB_STATE_ACTIVE'), false);
  });
});

describe('a client pointed at a closed port', () => {
  let address: string;
  let client: OctoserveClient;
  before(async () => {
    address = `127.0.0.1:${await closedPort()}`;
    client = new OctoserveClient({ address, deadlineMs: 2_000 });
  });
  after(() => client.close());

  test('getJob fails with UNAVAILABLE within the deadline, in one line naming the address', async () => {
    const start = Date.now();
    const err = await rejection(client.getJob('some-job'));
    assert.ok(Date.now() - start < 2_000, `took ${Date.now() - start} ms`);
    assert.equal(err.codeName, 'UNAVAILABLE');
    assert.equal(err.code, 14);
    assert.equal(err.address, address);
    assert.equal(err.message, `UNAVAILABLE: the cluster at ${address} is not answering (ECONNREFUSED): ` +
      'is `octoserve launch` running? set --cluster or $OCTOSERVE_CLUSTER');
  });

  test('waitForReady(500) rejects with UNAVAILABLE after about 500 ms', async () => {
    const start = Date.now();
    const err = await rejection(client.waitForReady(500));
    const ms = Date.now() - start;
    assert.ok(ms >= 450 && ms < 1_500, `took ${ms} ms`);
    assert.equal(err.codeName, 'UNAVAILABLE');
    assert.match(err.message, new RegExp(`the cluster at ${address} is not answering \\(no connection within 500 ms\\)`));
  });

  test('a generate loop throws an OctoserveError', async () => {
    const err = await rejection((async () => {
      for await (const event of client.generate({ prompt: 'Once upon a time' })) assert.fail(`got an event: ${JSON.stringify(event)}`);
    })());
    assert.equal(err.codeName, 'UNAVAILABLE');
  });

  test('an aborted signal fails the call with CANCELLED before it starts', async () => {
    const err = await rejection(client.clusterStatus({ signal: AbortSignal.abort() }));
    assert.equal(err.message, `CANCELLED: cancelled by the caller (${address})`);
  });
});

test('the address defaults to $OCTOSERVE_CLUSTER, else 127.0.0.1:50051', () => {
  const saved = process.env.OCTOSERVE_CLUSTER;
  try {
    process.env.OCTOSERVE_CLUSTER = 'cluster.example:7000';
    const fromEnv = new OctoserveClient();
    assert.equal(fromEnv.address, 'cluster.example:7000');
    fromEnv.close();
    delete process.env.OCTOSERVE_CLUSTER;
    const fallback = new OctoserveClient();
    assert.equal(fallback.address, '127.0.0.1:50051');
    fallback.close();
  } finally {
    if (saved === undefined) delete process.env.OCTOSERVE_CLUSTER;
    else process.env.OCTOSERVE_CLUSTER = saved;
  }
});
