// The wait spin: its settings, the 'auto' rule, and that a spin ends (when the wait does, or at its bound).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_SPIN_US, MAX_SPIN_US, SPIN_ENV, parseSpin, resolveSpinUs, WaitSpin } from './wait-spin.js';

test('parseSpin takes auto or whole microseconds and names the source of anything else', () => {
  assert.equal(parseSpin('auto', '--spin-us'), 'auto');
  assert.equal(parseSpin(' 250 ', '--spin-us'), 250);
  assert.equal(parseSpin('0', '--spin-us'), 0);
  for (const bad of ['', '-1', '1.5', 'fast', String(MAX_SPIN_US + 1)]) {
    assert.throws(() => parseSpin(bad, '--spin-us'), (e: Error) => e.message.includes('--spin-us') && e.message.includes(`'${bad}'`), bad);
  }
});

test("auto spins only when the world fits in the host's cores; a number is taken as given; the environment is the default", () => {
  const saved = process.env[SPIN_ENV];
  try {
    delete process.env[SPIN_ENV];
    assert.equal(resolveSpinUs(undefined, 2, 2), DEFAULT_SPIN_US);
    assert.equal(resolveSpinUs('auto', 4, 2), 0);
    assert.equal(resolveSpinUs('auto', 1, 2), 0, 'a world of one never waits');
    assert.equal(resolveSpinUs(50, 8, 2), 50);
    process.env[SPIN_ENV] = '0';
    assert.equal(resolveSpinUs(undefined, 2, 2), 0);
    assert.equal(resolveSpinUs(120, 2, 2), 120, 'an option beats the environment');
    process.env[SPIN_ENV] = 'soon';
    assert.throws(() => resolveSpinUs(undefined, 2, 2), new RegExp(SPIN_ENV));
  } finally {
    if (saved === undefined) delete process.env[SPIN_ENV];
    else process.env[SPIN_ENV] = saved;
  }
});

test('a spin keeps the loop turning while the wait lasts, and stops once it is over or at its bound', async () => {
  const loopTurns = async (n: number): Promise<void> => { for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r)); };
  let waiting = true;
  let turns = 0;
  const spin = new WaitSpin(() => { turns++; return waiting; });
  spin.start(10_000_000);
  spin.start(10_000_000); // a second start while it runs adds no second loop
  await loopTurns(50);
  assert.ok(turns >= 45 && turns <= 52, `the spin turned once per loop turn while it waited (${turns} turns in 50 loop turns)`);
  waiting = false;
  await loopTurns(2);
  const after = turns;
  await loopTurns(50);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(turns, after, 'no turns after the one that saw the wait end');

  let bounded = 0;
  new WaitSpin(() => { bounded++; return true; }).start(2_000);
  await new Promise((r) => setTimeout(r, 30));
  await loopTurns(2);
  const n = bounded;
  assert.ok(n > 1, `it turned before its bound (${n} turns)`);
  await loopTurns(50);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(bounded, n, 'the spin ended at its bound although the wait went on');
});
