import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createSegment, mapSegment, removeSegment, SEGMENT_DIR, sharedMemoryUnavailable, sumRows, waitUntil, arrive } from './index.js';

function tempSegment(): string {
  return join(SEGMENT_DIR, `octoserve-test-${randomBytes(6).toString('hex')}`);
}

test('the addon loads on this host', () => {
  assert.equal(sharedMemoryUnavailable(), undefined);
});

test('a wait for a count not reached times out; a reached one returns at once, across the wrap', () => {
  const path = tempSegment();
  createSegment(path, 4096);
  try {
    const words = new Int32Array(mapSegment(path, 4096));
    const t0 = performance.now();
    assert.equal(waitUntil(words, 0, 1, 0, 0, 30), false);
    assert.ok(performance.now() - t0 >= 25, 'slept about the timeout');
    assert.equal(arrive(words, 0, 1), 1);
    assert.equal(waitUntil(words, 0, 1, 0, 0, 1000), true);
    words[0] = 0x7fffffff;
    assert.equal(arrive(words, 0, -0x80000000), -0x80000000);
    assert.equal(waitUntil(words, 0, 0x7ffffff0, 0, 0, 1000), true, 'a count past the wrap has reached a target before it');
    assert.equal(waitUntil(words, 0, -0x7ffffff0, 100, 5000, 20), false);
  } finally { removeSegment(path); }
});

test('another process sees the bytes and its wake ends this process\'s wait', async () => {
  const path = tempSegment();
  createSegment(path, 4096);
  try {
    const words = new Int32Array(mapSegment(path, 4096));
    const script = `import('${new URL('./index.js', import.meta.url).href}').then((m) => {
      const w = new Int32Array(m.mapSegment(${JSON.stringify(path)}, 4096));
      setTimeout(() => { w[16] = 1234; m.arrive(w, 0, 2); }, 100);
    });`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'inherit' });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    const t0 = performance.now();
    arrive(words, 0, 2);
    assert.equal(waitUntil(words, 0, 2, 0, 50_000, 10_000), true);
    assert.ok(performance.now() - t0 >= 90, 'woken by the other process, not before');
    assert.equal(words[0], 2);
    assert.equal(words[16], 1234);
    assert.equal(await exited, 0);
  } finally { removeSegment(path); }
});

test('a segment that does not exist is one clear error naming it', () => {
  const path = tempSegment();
  assert.throws(() => mapSegment(path, 4096), (err: Error) => err.message.includes(path) && /No such file/.test(err.message));
});

test('sumRows adds k rows in order with float32 rounding, the bits of JavaScript\'s adds, at any length and offset', () => {
  const k = 8;
  const stride = 1037;
  const src = new Float32Array(k * stride + 5);
  let seed = 12345;
  for (let i = 0; i < src.length; i++) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    const u = seed / 2 ** 32;
    src[i] = (u - 0.5) * 2 ** ((Math.floor(u * 4096) % 24) - 12); // mixed magnitudes: the order shows in the bits
  }
  for (const [first, n, at] of [[0, 1037, 0], [3, 1000, 7], [5, 1, 0], [0, 0, 0], [2, 33, 1]] as const) {
    const want = new Float32Array(n + at);
    for (let i = 0; i < n; i++) {
      let acc = src[first + i] as number;
      for (let r = 1; r < k; r++) acc = Math.fround(acc + (src[first + r * stride + i] as number));
      want[at + i] = acc;
    }
    const got = new Float32Array(n + at);
    sumRows(src, first, stride, k, got, at, n);
    assert.deepEqual(Buffer.from(got.buffer), Buffer.from(want.buffer), `first ${first} n ${n} at ${at}`);
  }
  assert.throws(() => sumRows(src, 10, stride, k, new Float32Array(4), 0, 1037), /outside its arrays/);
});
