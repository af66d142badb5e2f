// @octoserve/shared-memory: memory shared by the processes of one host, and waits on its words
// that another process can end. The native part (native/shared_memory.c, built by node-gyp when
// npm installs the workspace) does two things JavaScript cannot: map a file into this process as
// an ArrayBuffer, and sleep on a 32-bit word until another process changes it and wakes the word
// (the futex system call; Atomics.wait only hears Atomics.notify from its own process).
// Written here rather than taken from npm: the packages that map shared memory offer no
// cross-process wait, and this is three small functions.
import { closeSync, ftruncateSync, openSync, unlinkSync } from 'node:fs';
import { createRequire } from 'node:module';

interface Native {
  map(path: string, bytes: number): ArrayBuffer;
  arrive(words: Int32Array, index: number, target: number): number;
  waitFor(words: Int32Array, index: number, target: number, spinUs: number, yieldUs: number, timeoutMs: number): number;
  sumRows(src: Float32Array, first: number, stride: number, k: number, out: Float32Array, at: number, n: number): void;
}

/** Where segments live: a RAM-backed file system on Linux. */
export const SEGMENT_DIR = '/dev/shm';

let native: Native | undefined;
let loadError: string | undefined;

function load(): Native {
  if (native !== undefined) return native;
  if (loadError === undefined) {
    try {
      native = createRequire(import.meta.url)('../build/Release/octoserve_shared_memory.node') as Native;
      return native;
    } catch (err) {
      loadError = err instanceof Error ? err.message : String(err);
    }
  }
  throw new Error(`the shared-memory addon is not built (${loadError}); ` +
    'npm builds it at install with node-gyp, which needs a C compiler and Node.js headers: run npm rebuild @octoserve/shared-memory');
}

/** Why shared memory cannot be used in this process, or undefined when it can. */
export function sharedMemoryUnavailable(): string | undefined {
  if (process.platform !== 'linux') return `shared memory between ranks needs Linux (futex); this host runs ${process.platform}`;
  try { load(); return undefined; } catch (err) { return (err as Error).message; }
}

/** Creates a segment file of `bytes` (zeroed, readable only by this user); fails when it exists. */
export function createSegment(path: string, bytes: number): void {
  const fd = openSync(path, 'wx', 0o600);
  try { ftruncateSync(fd, bytes); } finally { closeSync(fd); }
}

/** Maps the first `bytes` of a segment file into this process (shared with every process that maps it). */
export function mapSegment(path: string, bytes: number): ArrayBuffer {
  return load().map(path, bytes);
}

/** Removes a segment's name; processes that mapped it keep their mapping. Missing files are fine. */
export function removeSegment(path: string): void {
  try { unlinkSync(path); } catch (err) { if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; }
}

/**
 * Adds 1 to the counter `words[index]` (atomically, across processes) and returns the new value;
 * the caller whose add brings it to `target` wakes every process waiting on it (waitUntil).
 * Counters wrap around 2^32.
 */
export function arrive(words: Int32Array, index: number, target: number): number {
  return (native ?? load()).arrive(words, index, target);
}

/**
 * Waits until the counter `words[index]` has reached `target` (true), for at most `timeoutMs`
 * (false): it polls for up to `spinUs` µs, then polls yielding its core to other runnable processes
 * between looks until `yieldUs` µs (counted from the start), then sleeps until a process that
 * changes the word wakes it.
 */
export function waitUntil(words: Int32Array, index: number, target: number, spinUs: number, yieldUs: number, timeoutMs: number): boolean {
  return (native ?? load()).waitFor(words, index, target, spinUs, yieldUs, timeoutMs) === 0;
}

/**
 * out[at + i] = src[first + i] + src[first + stride + i] + ... (k rows, added in that order in
 * float32, the bits JavaScript's Float32Array adds give), for i < n; vectorized across i. `out`
 * must not overlap the rows.
 */
export function sumRows(src: Float32Array, first: number, stride: number, k: number, out: Float32Array, at: number, n: number): void {
  (native ?? load()).sumRows(src, first, stride, k, out, at, n);
}
