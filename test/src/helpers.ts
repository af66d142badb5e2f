// Shared by the end-to-end tests: the CLI entry point, running it, temporary models.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { trainMedusaHeads, writeMedusaHeads } from '@octoserve/medusa';
import { SynthCheckpoint, Transformer, loadWeights, openLlama2c, resolveConfig, writeLlama2c, writeSynthTokenizer } from '@octoserve/model';
import type { ModelParams } from '@octoserve/model';

export const CLI_MAIN = fileURLToPath(new URL('../../packages/cli/dist/main.js', import.meta.url));
export const WORKER_COMMAND = [process.execPath, CLI_MAIN, 'worker'] as const;

/** Whether the longer suite was asked for (npm run test:long). */
export const LONG = process.env.OCTOSERVE_LONG === '1';

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs `octoserve ARGS`; `onStderr` sees stderr as it arrives (with the child, to act on it). */
export function runCli(args: readonly string[], onStderr?: (text: string, pid: number) => void, timeoutMs = 120_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [CLI_MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`octoserve ${args.join(' ')} ran past ${timeoutMs} ms`)); }, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; onStderr?.(stderr, child.pid ?? -1); });
    child.on('exit', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr, ms: performance.now() - t0 }); });
  });
}

/** Writes a seeded random llama2.c model (and a tokenizer) of the given shape; returns the .bin path. */
export function writeSynthModel(params: ModelParams, seed = 1): string {
  const dir = mkdtempSync(join(tmpdir(), 'octoserve-e2e-'));
  const ckpt = new SynthCheckpoint(resolveConfig(params), seed);
  const path = join(dir, 'model.bin');
  writeLlama2c(path, ckpt);
  writeSynthTokenizer(join(dir, 'tokenizer.bin'), params.vocabSize);
  return path;
}

/** Whether a process is still alive. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false; // ESRCH: no such process
  }
}

/**
 * Medusa heads for the model at `modelPath` from a short deterministic self-distillation run (seed 1).
 * The same model and token count give the same heads, so the test files of one run (children of one
 * test runner) train them once and share the directory.
 */
export function trainTestHeads(modelPath: string, tokens: number): string {
  const key = createHash('sha256').update(readFileSync(modelPath)).update(`${tokens}`).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), `octoserve-test-heads-${process.ppid}-${key}`);
  if (existsSync(join(dir, 'config.json'))) return dir;
  const ckpt = openLlama2c(modelPath);
  const weights = loadWeights(ckpt);
  ckpt.close();
  const { heads } = trainMedusaHeads(new Transformer(weights), { tokens, seed: 1, stopIds: [1, 2] });
  // written beside, then renamed: a test file never sees half-written heads
  const partial = mkdtempSync(join(tmpdir(), 'octoserve-medusa-'));
  writeMedusaHeads(partial, heads);
  try {
    renameSync(partial, dir);
  } catch {
    if (!existsSync(join(dir, 'config.json'))) throw new Error(`could not keep the trained heads in ${dir}`);
  }
  return dir;
}
