// Where the tests find the real model: stories260K and its goldens (greedy outputs of llama2.c's
// run.c) in the shared/models folder beside the repository. A test that cannot find them fails
// with a message that says where it looked; none skips.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface TestModel {
  dir: string;
  modelPath: string; // stories260K.bin
  tokenizerPath: string; // tok512.bin
  goldenPath: string; // golden.json
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
      if (existsSync(join(candidate, 'stories260K', 'stories260K.bin'))) return candidate;
      if (dirname(dir) === dir) break;
    }
  }
  return null;
}

/** As sharedModelsDir, but throws (naming where it looked) when there is none. */
export function findSharedModels(): string {
  const found = sharedModelsDir();
  if (found === null) {
    throw new Error(`no shared/models/stories260K above ${process.cwd()} or ${dirname(fileURLToPath(import.meta.url))}: the tests need it`);
  }
  return found;
}

/** stories260K with its goldens; throws a clear error when any file is missing. */
export async function findTestModel(): Promise<TestModel> {
  const dir = join(findSharedModels(), 'stories260K');
  const model: TestModel = {
    dir,
    modelPath: join(dir, 'stories260K.bin'),
    tokenizerPath: join(dir, 'tok512.bin'),
    goldenPath: join(dir, 'golden.json'),
  };
  for (const path of [model.modelPath, model.tokenizerPath, model.goldenPath]) {
    if (!existsSync(path)) throw new Error(`stories260K is incomplete: no ${path}`);
  }
  return model;
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

/** The golden cases of `model`. */
export function loadGoldenCases(model: TestModel): GoldenCase[] {
  return (JSON.parse(readFileSync(model.goldenPath, 'utf8')) as { cases: GoldenCase[] }).cases;
}
