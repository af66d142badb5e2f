// The tokenizer contract shared by every format (llama2.c tokenizer.bin, HF tokenizer.json).

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
