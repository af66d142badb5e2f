// From `--model PATH` (and `--tokenizer FILE`) to an open checkpoint and its tokenizer; and the
// default model when no path is given: $OCTOSERVE_MODEL, else the embedded stories260K, else
// (when its files are missing or altered) stories260K from the user cache, else a synthetic model.
import { existsSync, mkdirSync, readdirSync, renameSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Checkpoint } from './checkpoint.js';
import { GgufCheckpoint, openGguf } from './checkpoint-gguf.js';
import { isHfDir, openHf } from './checkpoint-hf.js';
import { openLlama2c, writeLlama2c } from './checkpoint-llama2c.js';
import { ModelError } from './errors.js';
import { SynthCheckpoint } from './synth.js';
import { writeSynthTokenizer } from './synth-tokenizer.js';
import { cacheDir, cachedStories260K, EMBEDDED_STORIES260K_DIR, embeddedStories260K } from './stories260k.js';
import type { Tokenizer } from './tokenizer.js';
import { loadTokenizer } from './tokenizer-load.js';
import { isGgufFile } from './gguf-read.js';

/** Names of llama2.c tokenizer files, which are .bin files but not models. */
function isTokenizerName(name: string): boolean {
  return name === 'tokenizer.bin' || /^tok\d*\.bin$/.test(name);
}

function isDir(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory();
}

/** The llama2.c model file in `dir`: its only non-tokenizer .bin, or model.bin among several. */
function llama2cFileIn(dir: string): string {
  const bins = readdirSync(dir).filter((n) => n.endsWith('.bin') && !isTokenizerName(n)).sort();
  if (bins.length === 1) return join(dir, bins[0]!);
  if (bins.includes('model.bin')) return join(dir, 'model.bin');
  if (bins.length === 0) throw new ModelError(`${dir} holds neither an HF model (config.json) nor a llama2.c .bin checkpoint`);
  throw new ModelError(`${dir} holds several llama2.c checkpoints (${bins.join(', ')}); pass --model with the file`);
}

/** Opens an HF directory, a directory holding a llama2.c .bin, a llama2.c .bin file or a GGUF file. */
export function openCheckpoint(path: string): Checkpoint {
  if (!existsSync(path)) throw new ModelError(`no model at ${path}`);
  if (isDir(path)) return isHfDir(path) ? openHf(path) : openLlama2c(llama2cFileIn(path));
  if (path.endsWith('.gguf') || isGgufFile(path)) return openGguf(path);
  return openLlama2c(path);
}

/** The tokenizer file next to a checkpoint, in the order it is searched for. */
export function tokenizerCandidates(ckpt: Checkpoint): string[] {
  const dir = ckpt.format === 'hf' ? ckpt.path : dirname(ckpt.path);
  const bins = ['tokenizer.bin', `tok${ckpt.config.vocabSize}.bin`, 'tok512.bin'];
  const names = ckpt.format === 'hf' ? ['tokenizer.json', ...bins] : [...bins, 'tokenizer.json'];
  return [...new Set(names)].map((n) => join(dir, n));
}

/** The tokenizer of `ckpt`: `override` if given, else the first candidate beside it. */
export function findTokenizer(ckpt: Checkpoint, override?: string): string {
  if (override !== undefined) {
    if (!existsSync(override)) throw new ModelError(`no tokenizer at ${override} (from --tokenizer)`);
    return override;
  }
  const candidates = tokenizerCandidates(ckpt);
  const found = candidates.find((p) => existsSync(p));
  if (found === undefined) {
    throw new ModelError(
      `no tokenizer for model ${ckpt.path}: looked for ${candidates.map((p) => basename(p)).join(', ')} ` +
      `in ${dirname(candidates[0]!)}; pass --tokenizer FILE`,
    );
  }
  return found;
}

export interface LoadedModel {
  checkpoint: Checkpoint;
  tokenizer: Tokenizer;
  tokenizerPath: string;
}

export interface OpenModelOptions {
  /** --model: a file or directory; undefined means the default model. */
  model?: string;
  /** --tokenizer: overrides the tokenizer found beside the model. */
  tokenizer?: string;
  /** Where one-line notices go (default: stderr). */
  log?: (line: string) => void;
}

/** Opens the model and its tokenizer that `--model` / `--tokenizer` name. */
export async function openModel(options: OpenModelOptions = {}): Promise<LoadedModel> {
  const path = options.model ?? (await defaultModelPath({ log: options.log }));
  const checkpoint = openCheckpoint(path);
  try {
    // a GGUF usually carries its own tokenizer
    if (checkpoint instanceof GgufCheckpoint && checkpoint.hasTokenizer() && options.tokenizer === undefined) {
      return { checkpoint, tokenizer: checkpoint.tokenizer(), tokenizerPath: checkpoint.path };
    }
    const tokenizerPath = findTokenizer(checkpoint, options.tokenizer);
    const tokenizer = loadTokenizer(tokenizerPath, checkpoint.config.vocabSize);
    return { checkpoint, tokenizer, tokenizerPath };
  } catch (err) {
    checkpoint.close();
    throw err;
  }
}

/** A seeded synthetic `tiny` model with a made-up tokenizer, written once into the cache. */
export function synthFallbackModel(): string {
  const dir = join(cacheDir(), 'models', 'synth-tiny-seed0');
  const model = join(dir, 'model.bin');
  const tokenizer = join(dir, 'tokenizer.bin');
  if (!existsSync(model) || !existsSync(tokenizer)) {
    mkdirSync(dir, { recursive: true });
    const ckpt = SynthCheckpoint.ofShape('tiny', 0);
    // write beside, then rename: another process may be reading or writing the same files
    const part = `.part-${process.pid}`;
    writeLlama2c(model + part, ckpt);
    writeSynthTokenizer(tokenizer + part, ckpt.config.vocabSize);
    renameSync(tokenizer + part, tokenizer);
    renameSync(model + part, model);
  }
  return model;
}

export interface DefaultModelOptions {
  /** Where one-line notices go (default: stderr). */
  log?: (line: string) => void;
  /** The embedded stories260K's directory (default: the one this package carries). */
  embeddedDir?: string;
}

/**
 * The model used when --model is not given: $OCTOSERVE_MODEL, else the embedded stories260K,
 * else stories260K from the user cache (downloaded once), else, when that fails too, the
 * synthetic fallback. Each step that fails says so in one line on `log`.
 */
export async function defaultModelPath(options: DefaultModelOptions = {}): Promise<string> {
  const log = options.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const env = process.env.OCTOSERVE_MODEL;
  if (env !== undefined && env !== '') return env;
  try {
    return embeddedStories260K(options.embeddedDir ?? EMBEDDED_STORIES260K_DIR).modelPath;
  } catch (err) {
    if (!(err instanceof ModelError)) throw err;
    log(`octoserve: ${err.message}; looking for stories260K in ${join(cacheDir(), 'models')} instead`);
  }
  try {
    return (await cachedStories260K()).modelPath;
  } catch (err) {
    if (!(err instanceof ModelError)) throw err;
    log(`octoserve: stories260K unavailable (${err.message}); using a synthetic random-weight model instead (set OCTOSERVE_MODEL or pass --model)`);
    return synthFallbackModel();
  }
}
