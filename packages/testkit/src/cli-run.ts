// Running the built `octoserve` binary as a child process, for the end-to-end tests.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * The built CLI's dist/main.js, found through the workspace's @octoserve/cli at run time (not a
 * dependency of this package, so that the CLI's own tests can use it).
 */
export const MAIN_JS = fileURLToPath(new URL('./main.js', import.meta.resolve('@octoserve/cli')));

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node dist/main.js ...args` to completion. */
export function runCli(args: readonly string[], env: Record<string, string> = {}): CliResult {
  const r = spawnSync(process.execPath, [MAIN_JS, ...args], {
    encoding: 'utf8',
    env: { ...process.env, OCTOSERVE_DEBUG: '', ...env },
    timeout: 120_000,
  });
  if (r.error !== undefined) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
