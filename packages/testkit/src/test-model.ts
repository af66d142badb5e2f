// Where the real test model lives: the repository's shared/models, else the user cache, else a
// one-time download. Tests of every package find stories260K through here; none of them skips.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { downloadVerified } from './download.js';
import { ModelError } from './errors.js';

/** stories260K on the Hugging Face hub, with the sha256 of each file. */
export const STORIES260K = {
  baseUrl: 'https://huggingface.co/karpathy/tinyllamas/resolve/main/stories260K',
  model: { file: 'stories260K.bin', sha256: 'b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696' },
  tokenizer: { file: 'tok512.bin', sha256: '037cb335abb25d1fa9e8ecae30ed2a3a8ace9302862ebcdc05d51a6bbb10c312' },
} as const;

export interface TestModel {
  dir: string;
  modelPath: string; // stories260K.bin
  tokenizerPath: string; // tok512.bin
  /** golden.json (only the shared copy has one). */
  goldenPath: string | null;
}

/** `$XDG_CACHE_HOME/octoserve` (or ~/.cache/octoserve). */
export function cacheDir(): string {
  const base = process.env.XDG_CACHE_HOME !== undefined && process.env.XDG_CACHE_HOME !== ''
    ? process.env.XDG_CACHE_HOME
    : join(homedir(), '.cache');
  return join(base, 'octoserve');
}

/**
 * The `shared/models` directory beside the repository (e.g. /work/shared/models for a repository
 * at /work/main): the first `shared/models` holding stories260K found walking up from the
 * current directory or from this module. Null when there is none.
 */
export function sharedModelsDir(): string | null {
  const starts = [process.cwd(), dirname(fileURLToPath(import.meta.url))];
  for (const start of starts) {
    for (let dir = resolve(start); ; dir = dirname(dir)) {
      const candidate = join(dir, 'shared', 'models');
      if (existsSync(join(candidate, 'stories260K', STORIES260K.model.file))) return candidate;
      if (dirname(dir) === dir) break;
    }
  }
  return null;
}

function inDir(dir: string): TestModel | null {
  const modelPath = join(dir, STORIES260K.model.file);
  const tokenizerPath = join(dir, STORIES260K.tokenizer.file);
  if (!existsSync(modelPath) || !existsSync(tokenizerPath)) return null;
  const golden = join(dir, 'golden.json');
  return { dir, modelPath, tokenizerPath, goldenPath: existsSync(golden) ? golden : null };
}

/** stories260K in the user cache, downloaded once if missing. */
export async function cachedStories260K(): Promise<TestModel> {
  const dir = join(cacheDir(), 'models', 'stories260K');
  const cached = inDir(dir);
  if (cached !== null) return cached;
  for (const f of [STORIES260K.model, STORIES260K.tokenizer]) {
    const dest = join(dir, f.file);
    if (!existsSync(dest)) await downloadVerified(`${STORIES260K.baseUrl}/${f.file}`, dest, f.sha256);
  }
  return inDir(dir)!;
}

/** stories260K for tests: shared/models, else the user cache, else downloaded; throws if none works. */
export async function findTestModel(): Promise<TestModel> {
  const shared = sharedModelsDir();
  if (shared !== null) {
    const found = inDir(join(shared, 'stories260K'));
    if (found !== null) return found;
  }
  try {
    return await cachedStories260K();
  } catch (err) {
    throw new ModelError(
      `stories260K not found: no shared/models/stories260K above ${process.cwd()}, none in ${join(cacheDir(), 'models')}, ` +
      `and the download failed (${(err as Error).message})`,
    );
  }
}

/** One case of stories260K/golden.json: greedy output of llama2.c run.c. */
export interface GoldenCase {
  prompt: string;
  prompt_token_ids: number[];
  /** Greedy tokens after the prompt; a sampled BOS ends generation and is not included. */
  generated_token_ids: number[];
  stop_reason: 'steps' | 'bos';
  /** run.c's stdout without its final newline: the echoed prompt and the continuation. */
  text: string;
  continuation_text: string;
  /** [[id, logit], ...] of the last prompt position, descending. */
  first_logits_top5: [number, number][];
}

/** The golden cases beside `model`; throws if it has no golden.json. */
export function loadGoldenCases(model: TestModel): GoldenCase[] {
  if (model.goldenPath === null) {
    throw new ModelError(`no golden.json beside ${model.modelPath}: the golden tests need shared/models/stories260K`);
  }
  return (JSON.parse(readFileSync(model.goldenPath, 'utf8')) as { cases: GoldenCase[] }).cases;
}
