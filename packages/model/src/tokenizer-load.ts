// Opens a tokenizer file of any supported format.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { TokenizerError } from './tokenizer.js';
import { HfTokenizer, loadHfTokenizer } from './tokenizer-hf.js';
import { Llama2cTokenizer } from './tokenizer-llama2c.js';

export type LoadedTokenizer = Llama2cTokenizer | HfTokenizer;

/** What a model directory is searched for, in order. */
export const TOKENIZER_FILE_NAMES = ['tokenizer.json', 'tokenizer.bin', 'tok512.bin'] as const;

/**
 * Loads a llama2.c tokenizer.bin / tok512.bin or an HF tokenizer.json (by a `.json` name or a
 * leading `{`), or the first of TOKENIZER_FILE_NAMES in a directory. `vocabSize` is the
 * model's: llama2.c files, which do not store their length, are read for exactly that many
 * entries (to the end of the file without it); an HF tokenizer may not be larger.
 */
export function loadTokenizer(path: string, vocabSize?: number): LoadedTokenizer {
  const kind = fileKind(path);
  if (kind === 'dir') {
    const found = TOKENIZER_FILE_NAMES.map((n) => join(path, n)).find((p) => fileKind(p) === 'file');
    if (found === undefined) {
      throw new TokenizerError(`no tokenizer in ${path} (looked for ${TOKENIZER_FILE_NAMES.join(', ')}); pass --tokenizer FILE`);
    }
    return loadTokenizer(found, vocabSize);
  }
  if (kind === 'missing') throw new TokenizerError(`no tokenizer at ${path}; pass --tokenizer FILE`);
  if (path.endsWith('.json')) return loadHfTokenizer(path, vocabSize);
  const bytes = readFileSync(path);
  // A JSON file under another name: a llama2.c file cannot start with "{" and whitespace,
  // as that would make max_token_length hundreds of millions.
  if (bytes[0] === 0x7b && bytes.length > 1 && /^\{\s*"/.test(bytes.subarray(0, 64).toString('latin1'))) {
    return loadHfTokenizer(path, vocabSize);
  }
  return Llama2cTokenizer.fromBytes(bytes, path, vocabSize);
}

function fileKind(path: string): 'file' | 'dir' | 'missing' {
  try {
    return statSync(path).isDirectory() ? 'dir' : 'file';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'missing';
    throw new TokenizerError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}
