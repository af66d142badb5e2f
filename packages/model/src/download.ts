// Fetching a file once into a cache: progress on stderr, sha256 verified, written atomically.
import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ModelError } from './errors.js';
import { progressBar, type ProgressStream } from './progress.js';

export interface DownloadOptions {
  /** Give up when the server has not answered (headers) within this time (default 10 s). */
  connectTimeoutMs?: number;
  /** Give up when the whole download takes longer (default 120 s). */
  totalTimeoutMs?: number;
  /** Where progress goes (default process.stderr). */
  progress?: ProgressStream;
}

function megabytes(n: number): string {
  return `${(n / 1e6).toFixed(2)} MB`;
}

/** Downloads `url` to `dest` unless the bytes' sha256 differs from `sha256` (then nothing is written). */
export async function downloadVerified(url: string, dest: string, sha256: string, options: DownloadOptions = {}): Promise<void> {
  const progress = options.progress ?? process.stderr;
  const total = AbortSignal.timeout(options.totalTimeoutMs ?? 120_000);
  const connect = new AbortController();
  const timer = setTimeout(() => connect.abort(new Error(`no answer within ${(options.connectTimeoutMs ?? 10_000) / 1000} s`)),
    options.connectTimeoutMs ?? 10_000);
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.any([total, connect.signal]), redirect: 'follow' });
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause;
    const detail = cause instanceof Error ? cause.message : (err as Error).message;
    throw new ModelError(`cannot download ${url}: ${detail}`);
  } finally {
    clearTimeout(timer);
  }
  if (!res.ok || res.body === null) throw new ModelError(`cannot download ${url}: HTTP ${res.status} ${res.statusText}`);
  const length = Number(res.headers.get('content-length') ?? 0);
  const name = url.slice(url.lastIndexOf('/') + 1);
  const chunks: Uint8Array[] = [];
  let received = 0;
  // on a terminal a bar of megabytes; elsewhere only the line at the end
  const bar = progressBar(name, length, { stream: progress, width: 30, count: megabytes });
  try {
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      chunks.push(chunk);
      received += chunk.length;
      bar.update(received);
    }
  } catch (err) {
    throw new ModelError(`cannot download ${url}: ${(err as Error).message} after ${megabytes(received)}`);
  }
  bar.done('downloaded');
  const bytes = Buffer.concat(chunks);
  const digest = createHash('sha256').update(bytes).digest('hex');
  if (digest !== sha256) throw new ModelError(`downloaded ${url} has sha256 ${digest}, expected ${sha256}; not saved`);
  mkdirSync(dirname(dest), { recursive: true });
  const part = `${dest}.part-${process.pid}`;
  writeFileSync(part, bytes);
  renameSync(part, dest);
}
