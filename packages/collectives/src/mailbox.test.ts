// Frame ordering per sender: duplicates, gaps, stale and surplus frames are refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Mailbox } from './mailbox.js';
import type { Frame } from './frame-codec.js';

function frame(seq: number, index: number): Frame {
  return { kind: 1, seq, index, op: 1, step: 0, offset: 0, count: 0, dtype: 1, total: 0, payload: Buffer.alloc(0), hello: undefined, abort: undefined };
}

test('frames in order are delivered in order, to a waiting receive or later', async () => {
  const box = new Mailbox('rank 1');
  const waiting = box.next(1);
  assert.equal(box.push(frame(1, 0), 0), undefined);
  assert.equal((await waiting).index, 0);
  assert.equal(box.push(frame(1, 1), 0), undefined);
  assert.equal(box.push(frame(2, 0), 0), undefined);   // the peer is already at the next op
  assert.equal((box.next(1) as Frame).index, 1);
  assert.equal(box.hasLeftover(1), false);
  assert.equal((box.next(2) as Frame).seq, 2);
});

test('duplicates, gaps and frames of finished operations are refused', () => {
  const box = new Mailbox('rank 1');
  assert.equal(box.push(frame(3, 0), 2), undefined);
  assert.match(box.push(frame(3, 0), 2)?.message ?? '', /duplicated frame \(op #3, frame 0\)/);
  assert.match(new Mailbox('rank 1').push(frame(3, 1), 2)?.message ?? '', /out-of-order frame/);
  assert.match(new Mailbox('rank 1').push(frame(2, 0), 2)?.message ?? '', /already finished/);
  const late = new Mailbox('rank 1');
  assert.equal(late.push(frame(4, 0), 0), undefined);
  assert.match(late.push(frame(3, 0), 0)?.message ?? '', /out-of-order/);
});

test('a peer that moved on while this rank waits for more is a mismatch', async () => {
  const box = new Mailbox('rank 1');
  const waiting = box.next(5);
  assert.match(box.push(frame(6, 0), 4)?.message ?? '', /disagree about op #5/);
  box.failWaiter(new Error('aborted'));
  await assert.rejects(Promise.resolve(waiting), /aborted/);
  const queued = new Mailbox('rank 1');
  queued.push(frame(6, 0), 4);
  assert.throws(() => queued.next(5), /sent op #6 while this rank still expects frames of op #5/);
  queued.push(frame(6, 1), 4);
  assert.equal(queued.hasLeftover(6), true);
});
