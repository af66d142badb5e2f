// stories260K, the default model: the copy embedded in this package (models/stories260K), else
// the user cache, filled by a one-time download. Both are checked against the files' sha256.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { downloadVerified } from './download.js';
import { ModelError } from './errors.js';

/** stories260K on the Hugging Face hub, with the sha256 of each file. */
export const STORIES260K = {
  baseUrl: 'https://huggingface.co/karpathy/tinyllamas/resolve/main/stories260K',
  model: { file: 'stories260K.bin', sha256: 'b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696' },
  tokenizer: { file: 'tok512.bin', sha256: '037cb335abb25d1fa9e8ecae30ed2a3a8ace9302862ebcdc05d51a6bbb10c312' },
} as const;

/** Where the files of one stories260K copy are. */
export interface Stories260KFiles {
  dir: string;
  modelPath: string; // stories260K.bin
  tokenizerPath: string; // tok512.bin
}

/** The embedded copy's directory: packages/model/models/stories260K. */
export const EMBEDDED_STORIES260K_DIR = fileURLToPath(new URL('../models/stories260K', import.meta.url));

/** `$XDG_CACHE_HOME/octoserve` (or ~/.cache/octoserve). */
export function cacheDir(): string {
  const base = process.env.XDG_CACHE_HOME !== undefined && process.env.XDG_CACHE_HOME !== ''
    ? process.env.XDG_CACHE_HOME
    : join(homedir(), '.cache');
  return join(base, 'octoserve');
}

/** The stories260K files in `dir`, or null when either is missing. */
export function stories260KIn(dir: string): Stories260KFiles | null {
  const modelPath = join(dir, STORIES260K.model.file);
  const tokenizerPath = join(dir, STORIES260K.tokenizer.file);
  if (!existsSync(modelPath) || !existsSync(tokenizerPath)) return null;
  return { dir, modelPath, tokenizerPath };
}

function sha256Of(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** The embedded stories260K; throws ModelError naming the file that is missing or altered. */
export function embeddedStories260K(dir: string = EMBEDDED_STORIES260K_DIR): Stories260KFiles {
  const files = stories260KIn(dir);
  if (files === null) throw new ModelError(`the embedded stories260K is missing from ${dir}`);
  for (const [path, f] of [[files.modelPath, STORIES260K.model], [files.tokenizerPath, STORIES260K.tokenizer]] as const) {
    const got = sha256Of(path);
    if (got !== f.sha256) throw new ModelError(`${path} is altered (sha256 ${got.slice(0, 12)}…, expected ${f.sha256.slice(0, 12)}…)`);
  }
  return files;
}

/** stories260K in the user cache, downloaded once if missing. */
export async function cachedStories260K(): Promise<Stories260KFiles> {
  const dir = join(cacheDir(), 'models', 'stories260K');
  const cached = stories260KIn(dir);
  if (cached !== null) return cached;
  for (const f of [STORIES260K.model, STORIES260K.tokenizer]) {
    const dest = join(dir, f.file);
    if (!existsSync(dest)) await downloadVerified(`${STORIES260K.baseUrl}/${f.file}`, dest, f.sha256);
  }
  return stories260KIn(dir)!;
}
