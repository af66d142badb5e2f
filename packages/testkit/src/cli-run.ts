// Running the built `octoserve` binary as a child process, for the end-to-end tests.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** dist/main.js of this package. */
export const MAIN_JS = fileURLToPath(new URL('../main.js', import.meta.url));

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
