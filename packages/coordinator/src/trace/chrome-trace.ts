// Chrome trace-event JSON (what chrome://tracing and Perfetto load) of a coordinator's steps:
// one process per cluster, a coordinator thread and one thread per rank. Complete events
// ("ph": "X") with ts and dur in µs from the trace's start; categories say what an event is:
//   step        a rank's whole step; its segments and all-reduce waits nest inside
//   compute     an ONNX segment run (attention and ffn per layer, head)
//   allreduce   waiting in an all-reduce
//   idle        a rank between two steps
//   coordinator the coordinator's own spans: a step's round trip, merging, Medusa verification
import { writeFileSync } from 'node:fs';

export interface TraceEvent {
  name: string;
  cat: string;
  ph: 'X' | 'M';
  ts: number;
  dur?: number;
  pid: number;
  tid: number;
  args?: Record<string, unknown>;
}

export interface TraceDocument {
  traceEvents: TraceEvent[];
  displayTimeUnit: 'ms';
  otherData: Record<string, unknown>;
}

/** Thread ids within a cluster's process: the coordinator, then rank r at r + 1. */
export const COORDINATOR_TID = 0;
export const rankTid = (rank: number): number => rank + 1;

/** µs with ns resolution: keeps the JSON short without reordering nested events. */
const us = (ms: number): number => Math.round(ms * 1e6) / 1e3;

export class ChromeTrace {
  /** performance.now() at the trace's time 0. */
  readonly epoch = performance.now();
  private events: TraceEvent[] = [];
  private readonly names: { pid: number; name: string; threads: Map<number, string> }[] = [];
  private steps = 0;

  /**
   * `rolling`: every `steps` steps the events so far go to `write` and are dropped here (each
   * document carries the process and thread names), so a long run holds a bounded number.
   */
  constructor(readonly meta: Record<string, unknown> = {}, private readonly rolling?: { steps: number; write: (doc: TraceDocument) => void }) {}

  /** A new process (one cluster): its id, for the events of its threads. */
  process(name: string, threads: readonly string[]): number {
    const pid = this.names.length + 1;
    this.names.push({ pid, name, threads: new Map(threads.map((t, i) => [i, t])) });
    return pid;
  }

  /** A complete event from `start` to `end` (performance.now() ms on this process's clock). */
  span(pid: number, tid: number, cat: string, name: string, start: number, end: number, args?: Record<string, unknown>): void {
    const ts = us(start - this.epoch);
    const e: TraceEvent = { name, cat, ph: 'X', ts, dur: Math.max(0, us(end - this.epoch) - ts), pid, tid };
    if (args !== undefined) e.args = args;
    this.events.push(e);
  }

  /** A step has been recorded: with a rolling trace, every `steps` of them are written out. */
  stepDone(): void {
    this.steps++;
    if (this.rolling !== undefined && this.steps % this.rolling.steps === 0) this.rolling.write(this.drain());
  }

  /** The events so far as a document, dropped from here. */
  drain(): TraceDocument {
    const meta: TraceEvent[] = [];
    for (const p of this.names) {
      meta.push({ name: 'process_name', cat: '__metadata', ph: 'M', ts: 0, pid: p.pid, tid: 0, args: { name: p.name } });
      meta.push({ name: 'process_sort_index', cat: '__metadata', ph: 'M', ts: 0, pid: p.pid, tid: 0, args: { sort_index: p.pid } });
      for (const [tid, name] of p.threads) {
        meta.push({ name: 'thread_name', cat: '__metadata', ph: 'M', ts: 0, pid: p.pid, tid, args: { name } });
        meta.push({ name: 'thread_sort_index', cat: '__metadata', ph: 'M', ts: 0, pid: p.pid, tid, args: { sort_index: tid } });
      }
    }
    const events = this.events;
    this.events = [];
    return { traceEvents: [...meta, ...events], displayTimeUnit: 'ms', otherData: { ...this.meta, steps: this.steps } };
  }

  /** Writes the events so far to `path` (and drops them here). */
  writeTo(path: string): void {
    writeFileSync(path, JSON.stringify(this.drain()) + '\n');
  }
}
