// Self-distillation data: the base model writes its own training text, and the final-norm hidden
// state after every token is recorded. Each sequence starts at BOS with a short prefix sampled at
// temperature 1 (a varied "prompt"), then continues greedily or sampled, until a stop id or the
// length cap. Heads trained on it learn what the base model itself would write next.
import { Rng, Sampler, type Transformer } from '@octoserve/model';

export interface DistillData {
  readonly dim: number;
  /** [S] every sequence's tokens, back to back. */
  readonly tokens: Int32Array;
  /** [S, dim] the final-norm hidden state after each token (zeros after a sequence's last token, which is never run). */
  readonly hidden: Float32Array;
  /** [sequences + 1] sequence i is tokens [seqStart[i], seqStart[i + 1]). */
  readonly seqStart: Int32Array;
}

export interface DistillDataOptions {
  /** Tokens to write in all (the last sequence is cut to fit). */
  tokens: number;
  seed: number;
  /** Longest sequence, BOS included (default: min(256, the context)). */
  maxLength?: number;
  /** Share of sequences continued greedily after their prefix (default 0.75); the rest are sampled. */
  greedyFraction?: number;
  /** Temperatures of the sampled continuations, chosen in turn (default [0.7, 1]). */
  temperatures?: readonly number[];
  /** The sampled prefix after BOS holds 1..maxPrefix tokens (default 6). */
  maxPrefix?: number;
  /** Its first `openingTokens` (default 2) are drawn among the base model's top `openingTopK` (default 40) at temperature `openingTemperature` (default 1.5), so stories open in many ways. */
  openingTokens?: number;
  openingTopK?: number;
  openingTemperature?: number;
  /** Ids that end a sequence (kept as its last token). */
  stopIds: readonly number[];
  /** Progress in tokens written. */
  onProgress?: (done: number, total: number) => void;
}

/** Writes `options.tokens` tokens of the model's own text with its hidden states. */
export function generateDistillData(transformer: Transformer, options: DistillDataOptions): DistillData {
  const { dim, vocabSize, bosId } = transformer.config;
  const total = options.tokens;
  if (!(Number.isInteger(total) && total >= 3)) throw new Error(`training needs at least 3 tokens, got ${total}`);
  const maxLength = Math.min(options.maxLength ?? 256, transformer.maxSeqLen);
  const greedyFraction = options.greedyFraction ?? 0.75;
  const temperatures = options.temperatures ?? [0.7, 1];
  const maxPrefix = options.maxPrefix ?? 6;
  const rng = new Rng(options.seed, 'distill-plan');
  const prefixSampler = new Sampler(vocabSize, { temperature: 1, seed: options.seed * 7919 + 1 });
  const openingTokens = options.openingTokens ?? 2;
  const opening = new Sampler(vocabSize, {
    temperature: options.openingTemperature ?? 1.5, topK: options.openingTopK ?? 40, seed: options.seed * 7919 + 99,
  });
  const greedy = new Sampler(vocabSize, { temperature: 0 });
  const samplers = temperatures.map((temperature, i) => new Sampler(vocabSize, { temperature, seed: options.seed * 7919 + 2 + i }));

  const tokens = new Int32Array(total);
  const hidden = new Float32Array(total * dim);
  const starts: number[] = [0];
  let s = 0; // tokens written
  let sampledSeqs = 0;
  while (s < total) {
    const length = Math.min(maxLength, total - s);
    const prefix = 1 + (rng.nextU32() % maxPrefix);
    const continuation = rng.nextFloat() < greedyFraction ? greedy : samplers[sampledSeqs++ % samplers.length]!;
    // BOS, the sampled prefix, then the continuation; a stop id or the cap ends the sequence
    let len = 0;
    let token = bosId;
    for (;;) {
      tokens[s + len++] = token;
      if (len === length || (len > 1 && options.stopIds.includes(token))) break; // the last token is never run
      const out = transformer.forwardFull(token, len - 1);
      hidden.set(out.hidden, (s + len - 1) * dim);
      token = (len <= openingTokens ? opening : len <= prefix ? prefixSampler : continuation).sample(out.logits);
    }
    s += len;
    starts.push(s);
    options.onProgress?.(s, total);
  }
  return { dim, tokens, hidden, seqStart: Int32Array.from(starts) };
}
