// How deploy/ runs octoserve: flags and addresses in argument lists, each command's --help, and start.sh.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CLI_MAIN } from './helpers.js';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
/** The tensor-parallel degree every deployment is written for. */
export const TP = 8;

/** The value of `--name V` or `--name=V` in `args`. */
export function flag(args: readonly string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === `--${name}`) return args[i + 1];
    if (args[i]!.startsWith(`--${name}=`)) return args[i]!.slice(name.length + 3);
  }
  return undefined;
}

/** host:port split at the last colon. */
export function hostPort(addr: string | undefined): { host: string; port: number } | undefined {
  const i = addr?.lastIndexOf(':') ?? -1;
  if (addr === undefined || i < 0) return undefined;
  const port = Number(addr.slice(i + 1));
  return Number.isInteger(port) && port > 0 && port < 65536 ? { host: addr.slice(0, i), port } : undefined;
}

// ---------------------------------------------------------------------------------------------
// The CLI's flags
// ---------------------------------------------------------------------------------------------

const helpCache = new Map<string, { text: string; problem?: string }>();

/** `octoserve <command> --help`, run once per command. */
function help(command: string): { text: string; problem?: string } {
  let h = helpCache.get(command);
  if (h === undefined) {
    const r = spawnSync(process.execPath, [CLI_MAIN, command, '--help'], { encoding: 'utf8', timeout: 60_000 });
    h = r.status === 0 ? { text: r.stdout } : { text: '', problem: `\`octoserve ${command} --help\` exited ${r.status ?? r.signal}: ${(r.stderr || r.stdout).trim().split('\n')[0]}` };
    helpCache.set(command, h);
  }
  return h;
}

/** Every `--flag` in `args` appears in `helpText`. */
export function flagProblems(at: string, command: string, args: readonly string[], helpText: string): string[] {
  return args.flatMap((a) => {
    const name = /^--([a-z0-9][a-z0-9-]*)(=|$)/.exec(a)?.[1];
    if (name === undefined) return [];
    const listed = new RegExp(`(^|[\\s,[(])--${name}(?![a-z0-9-])`, 'm').test(helpText);
    return listed ? [] : [`${at}: \`octoserve ${command}\` has no --${name} (it is not in \`octoserve ${command} --help\`)`];
  });
}

/** An invocation of `octoserve`: where it is written, the command, and the arguments after it. */
export interface Invocation {
  at: string;
  command: string;
  args: string[];
}

export function cliProblems(invocations: readonly Invocation[]): string[] {
  return invocations.flatMap((inv) => {
    const h = help(inv.command);
    return h.problem !== undefined ? [`${inv.at}: ${h.problem}`] : flagProblems(inv.at, inv.command, inv.args, h.text);
  });
}

/** Splits a shell command line into words (quotes, no expansion). */
export function shellWords(line: string): string[] {
  return [...line.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3] ?? '');
}

// ---------------------------------------------------------------------------------------------
// deploy/local/start.sh
// ---------------------------------------------------------------------------------------------

/** The `octoserve launch` that start.sh execs, and what else it must do. */
export function startScript(text: string): { invocation?: Invocation; problems: string[] } {
  const problems: string[] = [];
  if (!/^#!\/(usr\/)?bin\/(env )?(ba)?sh\b/.test(text)) problems.push('deploy/local/start.sh: no #!/bin/sh line');
  if (!/^set -eu\b/m.test(text)) problems.push('deploy/local/start.sh: no `set -eu`');
  if (!/npx turbo run build/.test(text)) problems.push('deploy/local/start.sh: does not build');
  const line = /^\s*exec node "?(?:\$root\/)?packages\/cli\/dist\/main\.js"? (.*)$/m.exec(text)?.[1];
  if (line === undefined) return { problems: [...problems, 'deploy/local/start.sh: no `exec node packages/cli/dist/main.js ...` line'] };
  const [command = '', ...args] = shellWords(line);
  if (command !== 'launch') problems.push(`deploy/local/start.sh: runs \`octoserve ${command}\`, want launch`);
  if (flag(args, 'tp') !== String(TP)) problems.push(`deploy/local/start.sh: --tp ${flag(args, 'tp')}, want ${TP}`);
  if (args.at(-1) !== '$@') problems.push('deploy/local/start.sh: does not pass its arguments on ("$@")');
  return { invocation: { at: 'deploy/local/start.sh', command, args: args.filter((a) => a !== '$@') }, problems };
}
