// Fuzz cases sent over raw gRPC calls, endpoint by endpoint, and a tally of how each call ended.
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { KINDS, Rand, SEED, makeCase, seedFor } from './fuzz-inputs.js';
import type { Corpus } from './fuzz-inputs.js';

const CASES = 1000;            // per endpoint
const IN_FLIGHT = 16;
const DEADLINE_MS = 5_000;     // a call still open after this is a hang
const STREAM_CANCEL_MS = 1_500; // a stream that is sending is cancelled after this (a long generation is no hang)

export interface Outcome { status: string; details: string }

export const raw = (b: Buffer): Buffer => b;
const named = (s: { code: number; details: string }): Outcome => ({ status: grpc.status[s.code] ?? `code ${s.code}`, details: s.details });
export const deadline = (): grpc.CallOptions => ({ deadline: Date.now() + DEADLINE_MS });

export function unary(client: grpc.Client, path: string, frames: Buffer[], md: grpc.Metadata): Promise<Outcome> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, raw, raw, frames[0] as Buffer, md, deadline(), (err) => resolve(err === null ? { status: 'OK', details: '' } : named(err)));
  });
}

/** A server stream; one still sending after STREAM_CANCEL_MS is cancelled (and counted as such). */
export function serverStream(client: grpc.Client, path: string, frames: Buffer[], md: grpc.Metadata): Promise<Outcome> {
  return new Promise((resolve) => {
    const call = client.makeServerStreamRequest(path, raw, raw, frames[0] as Buffer, md, deadline());
    let sending = false;
    let cancelled = false;
    const timer = setTimeout(() => { if (sending) { cancelled = true; call.cancel(); } }, STREAM_CANCEL_MS);
    call.on('data', () => { sending = true; });
    call.on('error', () => { /* the 'status' event carries it */ });
    call.on('status', (s: grpc.StatusObject) => {
      clearTimeout(timer);
      resolve(cancelled ? { status: 'OK, cancelled while streaming', details: '' } : named(s));
    });
  });
}

/** A bidi stream: writes every frame, half-closes, waits for the status. */
export function bidi(client: grpc.Client, path: string, frames: Buffer[], md: grpc.Metadata): Promise<Outcome> {
  return new Promise((resolve) => {
    const call = client.makeBidiStreamRequest(path, raw, raw, md, deadline());
    call.on('data', () => { /* replies do not matter, only how the call ends */ });
    call.on('error', () => { /* the 'status' event carries it */ });
    call.on('status', (s: grpc.StatusObject) => resolve(named(s)));
    for (const f of frames) call.write(f);
    call.end();
  });
}

export function clientStream(client: grpc.Client, path: string, frames: Buffer[], md: grpc.Metadata): Promise<Outcome> {
  return new Promise((resolve) => {
    const call = client.makeClientStreamRequest(path, raw, raw, md, deadline(), (err) => resolve(err === null ? { status: 'OK', details: '' } : named(err)));
    for (const f of frames) call.write(f);
    call.end();
  });
}

/** Sends one case; `credentials`: with the token the endpoint demands (where it demands one). */
export type Send = (frames: Buffer[], i: number, credentials: boolean) => Promise<Outcome>;

/** A connection of its own (grpc-js otherwise shares one per address among its clients). */
export const connect = (address: string): grpc.Client => new grpc.Client(address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });

/**
 * Sends case i to `address(i)` with `call`: on a connection this endpoint keeps per address, or,
 * for an extreme case, on a connection of its own, so that a call that breaks its connection (a
 * status too large to send) takes no other case down with it.
 */
export function sender(address: (i: number) => string, call: typeof unary, path: string, md: (credentials: boolean) => grpc.Metadata, opened: grpc.Client[]): Send {
  const shared = new Map<string, grpc.Client>();
  return async (frames, i, credentials) => {
    const at = address(i);
    if (KINDS[i % KINDS.length] !== 'extreme') {
      let c = shared.get(at);
      if (c === undefined) { c = connect(at); shared.set(at, c); opened.push(c); }
      return call(c, path, frames, md(credentials));
    }
    const c = connect(at);
    try {
      return await call(c, path, frames, md(credentials));
    } finally {
      c.close();
    }
  };
}

export interface Endpoint {
  name: string;
  corpus: Corpus;
  send: Send;
  /** Frames per case (streams): 1 up to this. */
  maxFrames?: number;
  /**
   * A call without the endpoint's token is refused (UNAUTHENTICATED) before its handler runs: one
   * case in four goes without it, and so does every case `unsafe` holds back.
   */
  guarded?: boolean;
  /** Why a frame must not reach the handler (it would change what the cluster does): sent only without the token, or not at all. */
  unsafe?: (frame: Buffer, i: number) => string | undefined;
  /** An outcome that is a failure besides INTERNAL, UNKNOWN and a hang. */
  alsoBad?: (o: Outcome) => boolean;
}

const BAD = new Set(['INTERNAL', 'UNKNOWN', 'DEADLINE_EXCEEDED']);

/** Outcomes per endpoint, and the smallest input behind each kind of failure (up to 3 per endpoint and status). */
export class Tally {
  readonly counts = new Map<string, Map<string, number>>();
  private readonly failures = new Map<string, Map<string, { o: Outcome; input: Buffer[] }>>();
  readonly ms = new Map<string, number>();

  record(endpoint: string, input: Buffer[], o: Outcome, bad: boolean): void {
    const byStatus = this.counts.get(endpoint) ?? new Map<string, number>();
    byStatus.set(o.status, (byStatus.get(o.status) ?? 0) + 1);
    this.counts.set(endpoint, byStatus);
    if (!bad) return;
    const group = this.failures.get(`${endpoint}: ${o.status}`) ?? new Map<string, { o: Outcome; input: Buffer[] }>();
    this.failures.set(`${endpoint}: ${o.status}`, group);
    const kind = o.details.replace(/\d+/g, 'N').replace(/['"].*/, '').slice(0, 40);
    const size = (fs: Buffer[]): number => fs.reduce((n, f) => n + f.length, 0);
    const seen = group.get(kind);
    if (seen !== undefined ? size(input) < size(seen.input) : group.size < 3) group.set(kind, { o, input });
  }

  histogram(): string[] {
    return [...this.counts].map(([endpoint, byStatus]) => {
      const n = [...byStatus.values()].reduce((a, b) => a + b, 0);
      return `${endpoint}: ${n} cases in ${((this.ms.get(endpoint) ?? 0) / 1000).toFixed(1)} s; ` +
        [...byStatus].sort((a, b) => b[1] - a[1]).map(([s, k]) => `${s} ${k}`).join(', ');
    });
  }

  /** One line per kind of failure: the status, its details, and the smallest input seen (hex, frames split by |). */
  failureLines(): string[] {
    const hex = (f: Buffer): string => (f.length > 40 ? `${f.subarray(0, 40).toString('hex')}... (${f.length} bytes)` : f.toString('hex') || '(empty)');
    return [...this.failures].flatMap(([key, group]) => [...group.values()].map(({ o, input }) =>
      `${key} "${o.details.slice(0, 160)}" from ${input.map(hex).join(' | ')}`));
  }
}

/** Sends CASES cases to `e`, IN_FLIGHT at a time, and records how each ended. */
export async function fuzz(tally: Tally, e: Endpoint): Promise<void> {
  const r = new Rand(seedFor(e.name));
  const cases = Array.from({ length: CASES }, (_, i) => ({
    frames: Array.from({ length: 1 + r.int(e.maxFrames ?? 1) }, (_f, k) => makeCase(r, e.corpus, i + KINDS.length * k)),
    outsider: r.int(4) === 0,
  }));
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    for (let i = next++; i < CASES; i = next++) {
      const { frames, outsider } = cases[i] as { frames: Buffer[]; outsider: boolean };
      const why = frames.map((f) => e.unsafe?.(f, i)).find((w) => w !== undefined);
      if (why !== undefined && e.guarded !== true) { tally.record(e.name, frames, { status: `not sent (${why})`, details: '' }, false); continue; }
      const credentials = e.guarded !== true || (why === undefined && !outsider);
      const o = await e.send(frames, i, credentials);
      const shown = credentials ? o : { ...o, status: `${o.status} without the token${why === undefined ? '' : ` (with it: ${why})`}` };
      tally.record(e.name, frames, shown, BAD.has(o.status) || (!credentials && o.status !== 'UNAUTHENTICATED') || (e.alsoBad?.(o) ?? false));
    }
  }));
  tally.ms.set(e.name, performance.now() - t0);
}

/** Prints the outcomes; returns the failures (asserted last, after the cluster's own checks). */
export function report(t: TestContext, tally: Tally): string[] {
  for (const line of tally.histogram()) t.diagnostic(line);
  const failures = tally.failureLines();
  for (const line of failures) t.diagnostic(`FAILURE ${line}`);
  return failures;
}

export const noFailures = (failures: string[]): void =>
  assert.equal(failures.length, 0, `seed ${SEED}: ${failures.length} kinds of failure:\n${failures.join('\n')}`);

/** Whether `decode` accepts `bytes` (what the server's deserializer will do with them). */
export function decodes(decode: (b: Buffer) => unknown, bytes: Buffer): boolean {
  try {
    decode(bytes);
    return true;
  } catch {
    return false; // not a valid message: exactly what is asked
  }
}
