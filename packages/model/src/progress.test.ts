// The progress bar: silent but for its final line when not on a terminal, redrawn in place on one.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { liveLine, progressBar } from './progress.js';

function capture(isTTY: boolean): { stream: { write(s: string): boolean; isTTY: boolean }; written: string[] } {
  const written: string[] = [];
  return { stream: { write: (s: string) => { written.push(s); return true; }, isTTY }, written };
}

test('not on a terminal: nothing until done, then one line with the counts, the label and the summary', () => {
  const { stream, written } = capture(false);
  const bar = progressBar('tokens', 200, { stream, width: 10 });
  for (let n = 0; n <= 120; n += 10) bar.update(n);
  assert.deepEqual(written, []);
  bar.done('completed (length)');
  assert.equal(written.length, 1);
  assert.match(written[0]!, /^\[######\.\.\.\.\] 120\/200 tokens \d+\.\d s completed \(length\)\n$/);
  bar.done('again');
  bar.update(200);
  assert.equal(written.length, 1, 'done ends the bar');
});

test('on a terminal: each draw starts with \\r and clears the rest of the line; done ends the line', () => {
  const { stream, written } = capture(true);
  const bar = progressBar('tokens', 4, { stream, width: 4 });
  bar.update(1);
  bar.update(2); // within the redraw interval: skipped
  bar.done();
  assert.equal(written.length, 2);
  assert.match(written[0]!, /^\r\[#\.\.\.\] 1\/4 tokens \d+\.\d s\x1b\[K$/);
  assert.match(written[1]!, /^\r\[##\.\.\] 2\/4 tokens \d+\.\d s\x1b\[K\n$/);
});

test('counts past the total fill the bar without overflowing it; a total of 0 is full', () => {
  const { stream, written } = capture(false);
  progressBar('tokens', 10, { stream, width: 5 }).update(25);
  const over = progressBar('tokens', 10, { stream, width: 5 });
  over.update(25);
  over.done();
  const none = progressBar('steps', 0, { stream, width: 5 });
  none.done();
  assert.match(written[0]!, /^\[#####\] 25\/10 tokens/);
  assert.match(written[1]!, /^\[#####\] 0\/0 steps/);
});

test('with logEvery, not on a terminal: a line per step of the total, the percentage first', () => {
  const { stream, written } = capture(false);
  const bar = progressBar('training (steps)', 8, { stream, logEvery: 0.25 });
  for (let n = 0; n <= 8; n++) bar.update(n, `loss ${n}`);
  bar.done();
  assert.deepEqual(written, ['  0% training (steps) 0/8 loss 0\n', ' 25% training (steps) 2/8 loss 2\n', ' 50% training (steps) 4/8 loss 4\n',
    ' 75% training (steps) 6/8 loss 6\n', '100% training (steps) 8/8 loss 8\n']);
});

test('a live line is redrawn on a terminal and cleared at the end; elsewhere a line per show', () => {
  const tty = capture(true);
  const line = liveLine(tty.stream);
  line.show('draining: 2 in flight');
  line.end();
  assert.deepEqual(tty.written, ['\rdraining: 2 in flight\x1b[K', '\r\x1b[K']);
  const pipe = capture(false);
  liveLine(pipe.stream).show('draining: 2 in flight');
  assert.deepEqual(pipe.written, ['draining: 2 in flight\n']);
});
