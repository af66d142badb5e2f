// Opens a tokenizer file of any supported format.
import type { Tokenizer } from './tokenizer.js';

/**
 * Loads a llama2.c tokenizer.bin / tok512.bin or an HF tokenizer.json.
 * `vocabSize` is required for llama2.c files, which do not store their length.
 */
export function loadTokenizer(path: string, vocabSize?: number): Tokenizer {
  throw new Error(`tokenizer loading is not implemented yet (${path}, vocab ${vocabSize ?? '?'})`);
}
