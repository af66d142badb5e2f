// deploy/systemd: parsing its units and octoserve.env, each unit complete, the units in agreement.
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { REPO, TP, flag, hostPort, shellWords } from './deploy-cli.js';
import type { Invocation } from './deploy-cli.js';

export const SYSTEMD_DIR = join(REPO, 'deploy', 'systemd');

/** A unit file: section -> key -> values, in order (a key may repeat). */
export type Unit = Map<string, Map<string, string[]>>;

export function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section = '';
  for (const line of text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim())) {
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header !== null) {
      section = header[1]!;
      if (!unit.has(section)) unit.set(section, new Map());
      continue;
    }
    const eq = line.indexOf('=');
    const key = eq < 0 ? line : line.slice(0, eq).trim();
    const keys = unit.get(section) ?? unit.set(section, new Map()).get(section)!;
    keys.set(key, [...(keys.get(key) ?? []), eq < 0 ? '' : line.slice(eq + 1).trim()]);
  }
  return unit;
}

const value = (u: Unit, section: string, key: string): string | undefined => u.get(section)?.get(key)?.at(-1);

/** KEY=value lines of an EnvironmentFile. */
export function parseEnvFile(text: string): { vars: Map<string, string>; problems: string[] } {
  const vars = new Map<string, string>();
  const problems: string[] = [];
  for (const line of text.split('\n').map((l) => l.trim())) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m === null) problems.push(`octoserve.env: '${line}' is not KEY=value`);
    else vars.set(m[1]!, m[2]!);
  }
  return { vars, problems };
}

/** The `octoserve` invocation in a unit's ExecStart. */
export function execInvocation(name: string, u: Unit): Invocation | undefined {
  const words = shellWords(value(u, 'Service', 'ExecStart') ?? '');
  const i = words.findIndex((w) => basename(w) === 'octoserve');
  return i < 0 || words[i + 1] === undefined ? undefined : { at: `deploy/systemd/${name}`, command: words[i + 1]!, args: words.slice(i + 2) };
}

/** One unit is complete, safe, and refers only to variables the env file defines. */
export function unitProblems(name: string, u: Unit, env: ReadonlyMap<string, string>): string[] {
  const at = `deploy/systemd/${name}`;
  const isService = name.endsWith('.service');
  const problems = (isService ? ['Unit', 'Service', 'Install'] : ['Unit', 'Install'])
    .filter((s) => !u.has(s)).map((s) => `${at}: no [${s}] section`);
  if (value(u, 'Install', 'WantedBy') === undefined) problems.push(`${at}: [Install] has no WantedBy, so enabling it does nothing`);
  if (!isService) return problems;
  for (const key of ['ExecStart', 'Restart', 'User', 'EnvironmentFile']) {
    if (!value(u, 'Service', key)) problems.push(`${at}: [Service] has no ${key}`);
  }
  if (value(u, 'Service', 'User') === 'root') problems.push(`${at}: runs as root; use a dedicated User`);
  if (value(u, 'Service', 'NoNewPrivileges') !== 'yes') problems.push(`${at}: NoNewPrivileges=yes is missing`);
  const envFile = value(u, 'Service', 'EnvironmentFile');
  if (envFile !== undefined && basename(envFile) !== 'octoserve.env') problems.push(`${at}: EnvironmentFile ${envFile} is not the octoserve.env shipped here`);
  const setHere = new Set((u.get('Service')?.get('Environment') ?? []).flatMap((e) => shellWords(e).map((w) => w.split('=')[0]!)));
  const exec = value(u, 'Service', 'ExecStart') ?? '';
  for (const [, braced, bare] of exec.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g)) {
    const v = (braced ?? bare)!;
    if (!env.has(v) && !setHere.has(v)) problems.push(`${at}: ExecStart uses \${${v}}, which octoserve.env does not define`);
  }
  const inv = execInvocation(name, u);
  if (inv === undefined) problems.push(`${at}: ExecStart does not run octoserve`);
  if (name.includes('@.') && inv !== undefined && flag(inv.args, 'rank') !== '%i') problems.push(`${at}: a template's --rank must be %i (the instance name), got ${flag(inv.args, 'rank')}`);
  return problems;
}

/** The units agree: world size, the registry port, distinct ports for every rank, known targets. */
export function systemdClusterProblems(units: ReadonlyMap<string, Unit>, env: ReadonlyMap<string, string>): string[] {
  const invs = [...units].flatMap(([name, u]) => execInvocation(name, u) ?? []);
  const co = invs.find((i) => i.command === 'launch');
  const wk = invs.find((i) => i.command === 'worker');
  if (co === undefined || wk === undefined) return ['deploy/systemd: want a unit running `octoserve launch` and one running `octoserve worker`'];
  const problems: string[] = [];
  const world = Number(flag(wk.args, 'world'));
  if (world !== TP) problems.push(`${wk.at}: --world ${flag(wk.args, 'world')}, want ${TP}`);
  if (flag(co.args, 'expect-workers') !== flag(wk.args, 'world')) problems.push(`${co.at}: --expect-workers ${flag(co.args, 'expect-workers')} but workers run with --world ${flag(wk.args, 'world')}`);
  const registry = hostPort(flag(co.args, 'registry'));
  const dial = hostPort(env.get('OCTOSERVE_COORDINATOR'));
  if (registry === undefined || dial?.port !== registry.port) problems.push(`${co.at}: --registry ${flag(co.args, 'registry')} but workers dial OCTOSERVE_COORDINATOR=${env.get('OCTOSERVE_COORDINATOR')}`);
  // every port on the host, every rank's with %i replaced by the rank
  const ports = new Map<number, string>([[Number(flag(co.args, 'port')), `${co.at} --port`], [registry?.port ?? -1, `${co.at} --registry`]]);
  for (let rank = 0; rank < (Number.isInteger(world) ? world : 0); rank++) {
    const args = wk.args.map((a) => a.replaceAll('%i', String(rank)));
    for (const [what, port] of [['--listen', hostPort(flag(args, 'listen'))?.port], ['--collective-port', Number(flag(args, 'collective-port'))]] as const) {
      const where = `${wk.at} rank ${rank} ${what}`;
      if (port === undefined || !Number.isInteger(port) || port <= 0 || port >= 65536) problems.push(`${where}: not a port`);
      else if (ports.has(port)) problems.push(`${where}: port ${port} is already ${ports.get(port)}`);
      else ports.set(port, where);
    }
  }
  const known = new Set(['multi-user.target', 'network-online.target', 'redis-server.service', ...units.keys()]);
  for (const [name, u] of units) {
    for (const key of ['WantedBy', 'PartOf']) {
      for (const t of [...(u.get('Install')?.get(key) ?? []), ...(u.get('Unit')?.get(key) ?? [])].flatMap((v) => v.split(/\s+/))) {
        if (!known.has(t)) problems.push(`deploy/systemd/${name}: ${key}=${t} names no unit shipped here`);
      }
    }
  }
  return problems;
}

export function loadSystemd(): { units: Map<string, Unit>; env: ReturnType<typeof parseEnvFile> } {
  const names = readdirSync(SYSTEMD_DIR).filter((f) => /\.(service|target)$/.test(f)).sort();
  return {
    units: new Map(names.map((n) => [n, parseUnit(readFileSync(join(SYSTEMD_DIR, n), 'utf8'))])),
    env: parseEnvFile(readFileSync(join(SYSTEMD_DIR, 'octoserve.env'), 'utf8')),
  };
}
