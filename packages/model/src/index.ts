export type { Tokenizer, EncodeOptions } from './tokenizer.js';
export { loadTokenizer } from './tokenizer-load.js';
