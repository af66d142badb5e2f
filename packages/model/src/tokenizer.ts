// The tokenizer contract shared by every format (llama2.c tokenizer.bin, HF tokenizer.json).
import { ModelError } from './errors.js';

export interface EncodeOptions {
  /** Prepend the BOS id (default true, as llama2.c run.c does). */
  bos?: boolean;
  /** Append the EOS id (default false). */
  eos?: boolean;
}

export interface Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number;
  /** Ids that end generation (llama2.c models: BOS and EOS, as run.c stops on BOS). */
  readonly stopIds: readonly number[];
  encode(text: string, options?: EncodeOptions): number[];
  /**
   * The text printed for `token` when it follows `prev`, exactly as llama2.c's
   * decode + safe_printf would print it (leading space dropped after BOS, byte
   * pieces as raw bytes, unprintable single bytes skipped). Returns bytes, since
   * a UTF-8 character may be split across byte-fallback tokens.
   */
  decodePiece(prev: number, token: number): Uint8Array;
  /** The text of a whole generated sequence that follows `prev`, with split UTF-8 characters joined. */
  decode(tokens: readonly number[], prev?: number): string;
}

/** A tokenizer file that cannot be used: missing, truncated, malformed or the wrong size for the model. */
export class TokenizerError extends ModelError {
  override name = 'TokenizerError';
}

/** One turn of a chat, as HF chat templates expect it. */
export interface ChatMessage {
  role: string;
  content: string;
}

export interface ChatTemplateOptions {
  /** End the prompt with the assistant header, so the model writes the reply (default false). */
  addGenerationPrompt?: boolean;
  /** Extra variables for the template (e.g. `tools`, `enable_thinking`). */
  extra?: Readonly<Record<string, unknown>>;
}

/** A tokenizer whose files carry a chat template (HF tokenizer_config.json). */
export interface ChatTokenizer extends Tokenizer {
  readonly chatTemplate: string | undefined;
  /** Renders `messages` into the prompt text; throws TokenizerError if there is no template. */
  applyChatTemplate(messages: readonly ChatMessage[], options?: ChatTemplateOptions): string;
}
