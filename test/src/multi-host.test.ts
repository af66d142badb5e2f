// A cluster spread over hosts: the coordinator and two workers each in a network namespace of
// their own, joined by a bridge in the coordinator's namespace, so that every registration,
// step and all-reduce crosses a (virtual) network between three addresses. Greedy tokens from
// `generate --cluster` equal run.c's goldens. Where the kernel refuses `ip netns add`, the three
// "hosts" are 127.0.0.2-4 instead (Linux routes all of 127/8 to lo), and the test says so.
// Also: a --redis that does not answer stops `launch` at once, before any worker starts.
import { after, before, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readlinkSync, statSync } from 'node:fs';
import { freePort } from './calls.js';
import { CLI_MAIN, alive } from './helpers.js';
import { findTestModel, loadGoldenCases, type GoldenCase, type TestModel } from '@octoserve/testkit';
import { DEFAULT_FABRIC } from '@octoserve/collectives';

const model: TestModel = await findTestModel();
const cases: GoldenCase[] = loadGoldenCases(model);
const goldenBudget = (c: GoldenCase): number => 257 - c.prompt_token_ids.length;

/** The environment of every child: no Redis from the caller's environment. */
const childEnv = (): NodeJS.ProcessEnv => {
  const env = { ...process.env };
  delete env.OCTOSERVE_REDIS_URL;
  return env;
};

// ---------------------------------------------------------------------------------------------
// Hosts: three network namespaces, or three loopback addresses
// ---------------------------------------------------------------------------------------------

interface Host {
  /** The namespace the host's processes run in; null on the loopback fallback. */
  netns: string | null;
  ip: string;
}

interface Hosts {
  coordinator: Host;
  workers: [Host, Host];
  /** Why the namespaces could not be made (the loopback fallback), else null. */
  fallback: string | null;
  /** Namespaces made so far, to delete in teardown. */
  made: string[];
}

function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.error !== undefined) throw new Error(`ip ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} exited ${r.status}: ${r.stderr.trim()}`);
}

/**
 * Namespaces `octo-<pid>-{c,w0,w1}` with lo up; a bridge br0 in the coordinator's namespace holding
 * its address; one veth pair per worker, `vwR` on the bridge and `eth0` in the worker's namespace.
 * Nothing is made in the root namespace. The /24 is 10.213.<from the pid>.0.
 */
function makeHosts(): Hosts {
  const tag = `octo-${process.pid}`;
  const names = [`${tag}-c`, `${tag}-w0`, `${tag}-w1`] as const;
  const made: string[] = [];
  try {
    ip(['netns', 'add', names[0]]);
  } catch (err) {
    const loop = (n: number): Host => ({ netns: null, ip: `127.0.0.${n}` });
    return { coordinator: loop(2), workers: [loop(3), loop(4)], fallback: (err as Error).message, made };
  }
  made.push(names[0]);
  const hosts: Hosts = { coordinator: { netns: names[0], ip: '' }, workers: [{ netns: names[1], ip: '' }, { netns: names[2], ip: '' }], fallback: null, made };
  try {
    ip(['netns', 'add', names[1]]);
    made.push(names[1]);
    ip(['netns', 'add', names[2]]);
    made.push(names[2]);
    const subnet = `10.213.${(process.pid % 254) + 1}`;
    for (const ns of names) ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    const c = names[0];
    hosts.coordinator.ip = `${subnet}.1`;
    ip(['-n', c, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', c, 'addr', 'add', `${hosts.coordinator.ip}/24`, 'dev', 'br0']);
    ip(['-n', c, 'link', 'set', 'br0', 'up']);
    hosts.workers.forEach((w, r) => {
      w.ip = `${subnet}.${r + 2}`;
      ip(['-n', c, 'link', 'add', `vw${r}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', w.netns as string]);
      ip(['-n', c, 'link', 'set', `vw${r}`, 'master', 'br0']);
      ip(['-n', c, 'link', 'set', `vw${r}`, 'up']);
      ip(['-n', w.netns as string, 'addr', 'add', `${w.ip}/24`, 'dev', 'eth0']);
      ip(['-n', w.netns as string, 'link', 'set', 'eth0', 'up']);
    });
  } catch (err) {
    deleteNamespaces(made);
    throw err;
  }
  return hosts;
}

/** Deletes the namespaces (with them their veths and the bridge); returns what could not be deleted. */
function deleteNamespaces(names: string[]): string[] {
  const left: string[] = [];
  for (const ns of names.splice(0)) {
    try {
      ip(['netns', 'del', ns]);
    } catch (err) {
      left.push((err as Error).message);
    }
  }
  return left;
}

/** The inode of a network namespace, as /proc/PID/ns/net names it (net:[INODE]). */
const netnsInode = (ns: string): number => statSync(`/run/netns/${ns}`).ino;
const processNetns = (pid: number): number => Number(/net:\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/ns/net`))?.[1]);

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

interface Proc {
  child: ChildProcess;
  /** The octoserve process's pid (`ip netns exec` execs it in place: the same pid). */
  pid: number;
  stdout: string;
  stderr: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `octoserve ARGS` on `host`. */
function start(host: Host, args: string[]): Proc {
  const argv = [CLI_MAIN, ...args];
  const child = host.netns === null
    ? spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv() })
    : spawn('ip', ['netns', 'exec', host.netns, process.execPath, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv() });
  const proc: Proc = {
    child, pid: child.pid ?? -1, stdout: '', stderr: '',
    exited: new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal }))),
  };
  child.stdout?.setEncoding('utf8').on('data', (d: string) => { proc.stdout += d; });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { proc.stderr += d; });
  return proc;
}

/** Runs `octoserve ARGS` on `host` to its end; fails past `timeoutMs`. */
async function run(host: Host, args: string[], timeoutMs: number): Promise<Proc & { code: number | null }> {
  const p = start(host, args);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => { p.child.kill('SIGKILL'); reject(new Error(`octoserve ${args.join(' ')} ran past ${timeoutMs} ms\n${p.stderr}`)); }, timeoutMs);
  });
  try {
    const { code } = await Promise.race([p.exited, deadline]);
    return { ...p, code };
  } finally {
    clearTimeout(timer);
  }
}

/** Waits until `p`'s stderr matches `pattern`; fails if it exits first or `timeoutMs` passes. */
async function waitForStderr(p: Proc, pattern: RegExp, timeoutMs: number, what: string): Promise<RegExpExecArray> {
  const until = performance.now() + timeoutMs;
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  void p.exited.then((e) => { exit = e; });
  for (;;) {
    const m = pattern.exec(p.stderr);
    if (m !== null) return m;
    if (exit !== undefined) throw new Error(`${what}: exited (${exit.code ?? exit.signal}) before printing ${pattern}:\n${p.stderr}`);
    if (performance.now() > until) throw new Error(`${what}: no ${pattern} within ${timeoutMs} ms:\n${p.stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** SIGTERM, then SIGKILL whatever is still running 2 s later. */
async function stopAll(procs: Proc[]): Promise<void> {
  const running = procs.filter((p) => alive(p.pid));
  for (const p of running) p.child.kill('SIGTERM');
  await Promise.all(running.map((p) => Promise.race([p.exited, new Promise((r) => setTimeout(r, 2_000))])));
  for (const p of running) if (alive(p.pid)) p.child.kill('SIGKILL');
  await Promise.all(running.map((p) => p.exited));
}

const pgrep = (args: string[]): number[] =>
  spawnSync('pgrep', args, { encoding: 'utf8' }).stdout.split('\n').filter((l) => l !== '').map(Number);

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

describe('a coordinator and two workers on three hosts (network namespaces)', () => {
  let hosts: Hosts | undefined;
  const procs: Proc[] = [];
  let coordinator: Proc | undefined;
  let workers: Proc[] = [];
  let address = '';
  let registry = '';

  before(async () => {
    hosts = makeHosts();
    const h = hosts;
    const inNetns = h.fallback === null;
    const port = inNetns ? 50051 : await freePort(h.coordinator.ip);
    registry = `${h.coordinator.ip}:${inNetns ? 50052 : await freePort(h.coordinator.ip)}`;
    coordinator = start(h.coordinator, [
      'launch', '--model', model.modelPath, '--expect-workers', '2', '--host', h.coordinator.ip, '--port', String(port),
      '--registry', registry, '--queue', `octoserve-multi-host-${process.pid}`, '--start-timeout-ms', '30000', '--verbose',
    ]);
    procs.push(coordinator);
    await waitForStderr(coordinator, /waiting for 2 workers to register at /, 15_000, 'launch');
    workers = h.workers.map((w, r) => start(w, [
      'worker', '--rank', String(r), '--world', '2', '--listen', `${w.ip}:0`, '--coordinator', registry, '--register-timeout-ms', '20000',
    ]));
    procs.push(...workers);
    const m = await waitForStderr(coordinator, /octoserve: serving on (\S+) /, 30_000, 'launch');
    address = m[1] as string;
  });

  after(async () => {
    await stopAll(procs);
    const left = deleteNamespaces(hosts?.made ?? []);
    assert.deepEqual(left, [], 'every namespace was deleted');
  });

  it('runs in network namespaces, and without Redis says in one line that jobs stay in the process', (t) => {
    const h = hosts as Hosts;
    if (h.fallback !== null) t.diagnostic(`no network namespaces (${h.fallback}): the hosts are 127.0.0.2-4 on lo instead`);
    const c = coordinator as Proc;
    if (h.fallback === null) {
      assert.equal(processNetns(c.pid), netnsInode(h.coordinator.netns as string), 'the coordinator runs in its namespace');
      workers.forEach((w, r) => assert.equal(processNetns(w.pid), netnsInode(h.workers[r]?.netns as string), `rank ${r} runs in its namespace`));
      // nothing answers on 127.0.0.1:6379 in a fresh namespace
      const notices = c.stderr.split('\n').filter((l) => /jobs are kept in this process/.test(l));
      assert.equal(notices.length, 1, c.stderr);
      assert.match(notices[0] as string, /^octoserve: .*redis:\/\/127\.0\.0\.1:6379.*jobs are kept in this process/);
      assert.match(c.stderr, /serving on \S+ \(tp 2, jobs in this process\)/);
    } else {
      // the host's 127.0.0.1:6379 may have a Redis: either queue will do, said once
      assert.match(c.stderr, /serving on \S+ \(tp 2, jobs in (this process|redis)/);
    }
    assert.ok(address.startsWith(`${h.coordinator.ip}:`), `serving on ${address}, the coordinator host's address`);
  });

  it('the workers registered from their own hosts\' addresses, under the pids started there', () => {
    const h = hosts as Hosts;
    const c = coordinator as Proc;
    workers.forEach((w, r) => {
      const m = new RegExp(`registry: rank ${r} joined from (\\S+):(\\d+) \\(pid (\\d+),`).exec(c.stderr);
      assert.ok(m !== null, `no registration of rank ${r} in:\n${c.stderr}`);
      assert.equal(m[1], h.workers[r]?.ip, `rank ${r} registered from its host's address`);
      assert.equal(Number(m[3]), w.pid, `rank ${r}'s pid`);
      assert.match(w.stderr, new RegExp(`rank ${r}/2: serving on ${h.workers[r]?.ip.replaceAll('.', '\\.')}:\\d+, collectives on ${h.workers[r]?.ip.replaceAll('.', '\\.')}:\\d+ \\(${DEFAULT_FABRIC}\\), registered with ${registry}`));
    });
  });

  it('generate --cluster from the coordinator\'s host reproduces run.c on two golden cases', async () => {
    const h = hosts as Hosts;
    for (const c of [cases[0], cases[2]] as GoldenCase[]) {
      const r = await run(h.coordinator, ['generate', '--cluster', address, '--prompt', c.prompt, '--max-tokens', String(goldenBudget(c)), '--json'], 30_000);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { prompt_token_ids: number[]; token_ids: number[]; text: string; stats: { coordinator: string } };
      assert.deepEqual(out.prompt_token_ids, c.prompt_token_ids);
      assert.deepEqual(out.token_ids, c.generated_token_ids, `tokens differ for "${c.prompt}"`);
      assert.equal(out.text, c.text);
      assert.equal(out.stats.coordinator, address);
    }
  });

  it('status --cluster lists both ranks, on their hosts, with the workers\' pids', async () => {
    const h = hosts as Hosts;
    const r = await run(h.coordinator, ['status', '--cluster', address, '--json'], 15_000);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout) as { state: string; tp: number; address: string; ranks: { rank: number; host: string; pid: number; state: string }[]; steps: number };
    assert.equal(s.state, 'serving');
    assert.equal(s.tp, 2);
    assert.equal(s.address, address);
    assert.deepEqual(s.ranks.map((k) => k.rank), [0, 1]);
    s.ranks.forEach((k, i) => {
      assert.equal(k.pid, workers[i]?.pid, `rank ${i}'s pid`);
      assert.notEqual(k.host, '', `rank ${i} reports its host`);
      assert.equal(k.state, 'ready');
    });
    assert.ok(s.steps > 0, 'the generations ran on these ranks');
  });
});

test('a --redis that does not answer stops launch within 15 s with one line naming it, before any worker starts', async () => {
  const url = 'redis://127.0.0.1:1';
  const registry = `127.0.0.1:${await freePort('127.0.0.1')}`;
  const local: Host = { netns: null, ip: '127.0.0.1' };
  const p = start(local, ['launch', '--model', model.modelPath, '--tp', '1', '--port', '0', '--redis', url, '--registry', registry]);
  const children = new Set<number>();
  const watch = setInterval(() => { for (const pid of pgrep(['-P', String(p.pid)])) children.add(pid); }, 50);
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    const { code } = await Promise.race([p.exited, new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`launch still running after 15 s:\n${p.stderr}`)), 15_000);
    })]);
    const ms = performance.now() - t0;
    assert.equal(code, 1, p.stderr);
    assert.ok(ms < 15_000, `exited after ${ms.toFixed(0)} ms`);
    const lines = p.stderr.trim().split('\n');
    assert.equal(lines.length, 1, p.stderr);
    assert.ok(lines[0]?.includes(url), p.stderr);
    assert.doesNotMatch(p.stderr, /^\s+at /m, 'no stack trace');
    assert.deepEqual([...children], [], 'launch started no process');
    assert.deepEqual(pgrep(['-f', `coordinator ${registry}`]), [], 'no worker of this launch is running');
  } finally {
    clearInterval(watch);
    clearTimeout(timer);
    if (alive(p.pid)) p.child.kill('SIGKILL');
  }
});
