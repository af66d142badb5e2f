// Which token ids end a generation: the tokenizer's stop tokens (BOS and EOS for llama2.c
// tokenizers, an HF tokenizer's EOS) and the checkpoint's eos_token_id list, without repeats.
import type { ModelConfig } from './config.js';
import type { Tokenizer } from './tokenizer.js';

export function stopTokenIds(tokenizer: Pick<Tokenizer, 'stopIds'>, config: Pick<ModelConfig, 'eosIds'>): number[] {
  return [...new Set([...tokenizer.stopIds, ...config.eosIds])];
}
