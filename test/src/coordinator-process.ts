// A coordinator started as `octoserve launch` in a child process, for the serving tests:
// waits for its "serving on" line, keeps its stderr, and stops it (SIGTERM, then SIGKILL).
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { CLI_MAIN } from './helpers.js';

export interface Coordinator {
  address: string;
  child: ChildProcess;
  /** Everything it wrote to stderr so far. */
  stderr(): string;
  /** Resolves with the match once its stderr matches `re`; rejects after `timeoutMs`. */
  waitFor(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

/** A queue name of this test run alone, so runs never see each other's jobs. */
export function uniqueQueue(label: string): string {
  return `e2e-${label}-${process.pid}-${Date.now().toString(36)}`;
}

/** Removes a test queue's keys from the local Redis. */
export function dropQueue(name: string): void {
  const keys = spawnSync('redis-cli', ['--scan', '--pattern', `bull:${name}:*`], { encoding: 'utf8' }).stdout.split('\n').filter((k) => k !== '');
  const marks = spawnSync('redis-cli', ['--scan', '--pattern', `${name}:*`], { encoding: 'utf8' }).stdout.split('\n').filter((k) => k !== '');
  const all = [...keys, ...marks];
  for (let i = 0; i < all.length; i += 500) spawnSync('redis-cli', ['del', ...all.slice(i, i + 500)]);
}

export async function startCoordinator(args: readonly string[], timeoutMs = 90_000): Promise<Coordinator> {
  const child = spawn(process.execPath, [CLI_MAIN, 'launch', '--port', '0', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let text = '';
  const listeners = new Set<() => void>();
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { text += d; for (const l of listeners) l(); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const waitFor = (re: RegExp, ms: number): Promise<RegExpMatchArray> => new Promise((resolve, reject) => {
    const check = (): void => {
      const m = re.exec(text);
      if (m === null) return;
      listeners.delete(check);
      clearTimeout(timer);
      resolve(m);
    };
    const timer = setTimeout(() => { listeners.delete(check); reject(new Error(`coordinator stderr did not match ${re} within ${ms} ms:\n${text}`)); }, ms);
    listeners.add(check);
    check();
  });
  const ready = waitFor(/serving on (\S+) \(tp /, timeoutMs);
  const early = exited.then(({ code, signal }) => { throw new Error(`octoserve launch exited (${code ?? signal}) before serving:\n${text}`); });
  const m = await Promise.race([ready, early]);
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.kill('SIGTERM');
    await exited;
    clearTimeout(timer);
  };
  return { address: m[1] as string, child, stderr: () => text, waitFor, exited, stop };
}
