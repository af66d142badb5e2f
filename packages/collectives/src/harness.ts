// A harness that runs N ranks as real child processes on 127.0.0.1 (tests,
// the benchmark). Each child binds its endpoint on port 0 and reports the
// address over IPC; once all have reported, every child gets the full
// address list and runs the named scenario, an exported async function of a
// module. No fixed ports, so parallel runs never collide.
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Communicator } from './communicator.js';
import type { CommunicatorOptions } from './communicator-options.js';
import { FABRIC_ENV } from './fabric.js';
import type { Fabric } from './fabric.js';
import type { Endpoint } from './transport.js';

/** What a scenario function gets in each rank process. */
export interface RankContext {
  rank: number;
  worldSize: number;
  /** Every rank's collective address, by rank. */
  peers: readonly string[];
  /** This rank's endpoint, already bound. */
  endpoint: Endpoint;
  communicatorId: string;
  /** The `args` given to runRanks (structured-cloned). */
  args: unknown;
  /** Creates this rank's communicator with the harness's addresses and endpoint. */
  connect(options?: Partial<CommunicatorOptions>): Promise<Communicator>;
  /** Sends an event to the parent's onSignal (e.g. "I am mid-operation now"). */
  signal(payload: unknown): void;
}

export type Scenario = (ctx: RankContext) => Promise<unknown>;

export interface RunRanksOptions {
  worldSize: number;
  /** Module (path or file: URL) that exports the scenario. */
  module: string | URL;
  /** Name of the exported scenario function. */
  scenario: string;
  args?: unknown;
  /** Per-rank arguments; when given, rank r gets rankArgs[r] instead of args. */
  rankArgs?: readonly unknown[];
  communicatorId?: string;
  /** Kill every rank still running after this long, ms (60 000). */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** The fabric every rank binds and connects with (sets OCTOSERVE_FABRIC in the ranks); default: the ranks' environment. */
  fabric?: Fabric;
  execArgv?: string[];
  /** Called when a rank signals; `kill` SIGKILLs a rank. */
  onSignal?: (rank: number, payload: unknown, control: { kill(rank: number): void }) => void;
}

export interface RankOutcome {
  rank: number;
  /** The scenario resolved. */
  ok: boolean;
  value?: unknown;
  error?: { message: string; code?: string };
  exitCode: number | null;
  signal: string | null;
  /** When the outcome arrived, ms since the scenario started on all ranks. */
  atMs: number;
}

type ChildMessage =
  | { type: 'bound'; address: string }
  | { type: 'signal'; payload: unknown }
  | { type: 'result'; ok: boolean; value?: unknown; error?: { message: string; code?: string } };

const CHILD = fileURLToPath(new URL('./harness-child.js', import.meta.url));

/** Runs `scenario` on `worldSize` processes; resolves with every rank's outcome once all have exited. */
export async function runRanks(options: RunRanksOptions): Promise<RankOutcome[]> {
  const N = options.worldSize;
  const moduleUrl = options.module instanceof URL ? options.module.href : new URL(options.module, 'file://').href;
  const communicatorId = options.communicatorId ?? `harness-${process.pid}-${Date.now()}`;
  const children: ChildProcess[] = [];
  const outcomes: (RankOutcome | undefined)[] = new Array(N).fill(undefined);
  const addresses: (string | undefined)[] = new Array(N).fill(undefined);
  const results: (Extract<ChildMessage, { type: 'result' }> | undefined)[] = new Array(N).fill(undefined);
  let t0 = performance.now();
  const control = { kill: (r: number): void => { children[r]?.kill('SIGKILL'); } };
  const exited: boolean[] = new Array(N).fill(false);
  let released = false;
  // Ranks wait after reporting until all have reported, so none breaks a peer's streams early.
  const releaseIfDone = (): void => {
    if (released || !outcomes.every((o, r) => o !== undefined || exited[r])) return;
    released = true;
    children.forEach((c, r) => { if (!exited[r] && c.connected) c.send({ type: 'exit' }); });
  };

  const all = new Promise<void>((resolveAll) => {
    let remaining = N;
    for (let r = 0; r < N; r++) {
      const child = fork(CHILD, [moduleUrl, options.scenario], {
        serialization: 'advanced',
        env: { ...process.env, ...options.env, ...(options.fabric === undefined ? {} : { [FABRIC_ENV]: options.fabric }) },
        execArgv: options.execArgv ?? [],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      children.push(child);
      child.on('message', (m: ChildMessage) => {
        if (m.type === 'bound') {
          addresses[r] = m.address;
          if (addresses.every((a) => a !== undefined)) {
            t0 = performance.now();
            children.forEach((c, rank) => c.send({
              type: 'start', rank, peers: addresses, communicatorId, args: options.rankArgs?.[rank] ?? options.args,
            }));
          }
        } else if (m.type === 'signal') {
          options.onSignal?.(r, m.payload, control);
        } else {
          results[r] = m;
          outcomes[r] = { rank: r, ok: m.ok, value: m.value, error: m.error, exitCode: null, signal: null, atMs: performance.now() - t0 };
          releaseIfDone();
        }
      });
      child.on('exit', (code, signal) => {
        exited[r] = true;
        const o = outcomes[r] ?? { rank: r, ok: false, error: { message: `rank ${r} exited (${signal ?? code}) without a result` }, atMs: performance.now() - t0 };
        outcomes[r] = { ...o, exitCode: code, signal };
        releaseIfDone();
        if (--remaining === 0) resolveAll();
      });
    }
  });
  const timeoutMs = options.timeoutMs ?? 60_000;
  const timer = setTimeout(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }, timeoutMs);
  try {
    await all;
  } finally {
    clearTimeout(timer);
  }
  return outcomes as RankOutcome[];
}
