// The decode loop: prompt ids in, generated ids out, with stop tokens, the context bound and timing.
// Any Engine plugs in; text is the caller's business (see onToken).
import type { Engine } from './engine.js';
import { ModelError } from './errors.js';

export type FinishReason = 'length' | 'stop';

/** Anything that picks a token from logits (a Sampler). */
export interface TokenSampler {
  sample(logits: Float32Array): number;
}

export interface GenerateOptions {
  /** Most tokens to generate; also bounded by the context (see maxNewTokens). */
  maxTokens: number;
  sampler: TokenSampler;
  /** Sampling one of these ends generation; it is not included in tokenIds. */
  stopIds: readonly number[];
  /** Called for each generated token with the token before it (for streaming text). */
  onToken?: (token: number, prev: number) => void;
}

export interface GenerateStats {
  /** Generated tokens. */
  tokens: number;
  /** Wall time of the whole loop: prompt prefill plus decoding. */
  wallMs: number;
  /** tokens / wall time. */
  tokPerS: number;
}

export interface GenerateResult {
  promptTokenIds: number[];
  tokenIds: number[];
  finishReason: FinishReason;
  stats: GenerateStats;
}

/** Throws "prompt is N tokens; the model's context is M" when the prompt cannot be run. */
export function checkPromptFits(promptTokens: number, context: number): void {
  if (promptTokens === 0) throw new ModelError('the prompt has no tokens (it needs at least BOS)');
  if (promptTokens > context) throw new ModelError(`prompt is ${promptTokens} tokens; the model's context is ${context}`);
}

/**
 * The most tokens a prompt of `promptTokens` leaves room for: positions 0..context-1 are fed,
 * and the token sampled at the last position is emitted without being fed back.
 */
export function maxNewTokens(promptTokens: number, context: number): number {
  return Math.max(0, context - promptTokens + 1);
}

/**
 * Where the decode loop gets its next token: runs `tokens` at `positions` (storing their
 * keys and values) and returns the token chosen after the last one. The reference engine
 * with a sampler is one; a tensor-parallel cluster, which never ships full logits, is another.
 */
/** What a decode loop tells its source about the tokens it may still take: a source may work ahead. */
export interface TokensAhead {
  /** The most tokens the loop takes from here, the one asked for included. */
  tokens: number;
  /** Tokens that end the loop when chosen. */
  stopIds: readonly number[];
}

export interface TokenSource {
  /** Positions one sequence can hold. */
  readonly maxSeqLen: number;
  next(tokens: ArrayLike<number>, positions: ArrayLike<number>, ahead?: TokensAhead): number | Promise<number>;
}

/** An Engine whose logits are turned into tokens by `sampler`. */
export function engineTokenSource(engine: Engine, sampler: TokenSampler): TokenSource {
  return {
    maxSeqLen: engine.maxSeqLen,
    next(tokens, positions) {
      const out = engine.step(tokens, positions);
      return out instanceof Float32Array ? sampler.sample(out) : out.then((logits) => sampler.sample(logits));
    },
  };
}

export type SourceGenerateOptions = Omit<GenerateOptions, 'sampler'>;

/** The decode loop over any TokenSource: prefill the prompt, then one token per step. */
export async function generateFrom(source: TokenSource, promptIds: readonly number[], options: SourceGenerateOptions): Promise<GenerateResult> {
  const n = promptIds.length;
  checkPromptFits(n, source.maxSeqLen);
  const limit = Math.min(options.maxTokens, maxNewTokens(n, source.maxSeqLen));
  const tokenIds: number[] = [];
  const start = performance.now();
  let finishReason: FinishReason = 'length';
  if (limit > 0) {
    // prefill: the whole prompt at positions 0..n-1
    const positions = Int32Array.from(promptIds, (_, i) => i);
    const token = new Int32Array(1); // the token fed next, and its position
    const pos = new Int32Array(1);
    const ahead = { tokens: 0, stopIds: options.stopIds };
    let prev = promptIds[n - 1]!;
    let next = await source.next(promptIds, positions);
    for (;;) {
      if (options.stopIds.includes(next)) {
        finishReason = 'stop';
        break;
      }
      tokenIds.push(next);
      options.onToken?.(next, prev);
      if (tokenIds.length >= limit) break;
      token[0] = next;
      pos[0] = n + tokenIds.length - 1;
      prev = next;
      ahead.tokens = limit - tokenIds.length;
      next = await source.next(token, pos, ahead);
    }
  }
  const wallMs = performance.now() - start;
  return {
    promptTokenIds: [...promptIds],
    tokenIds,
    finishReason,
    stats: { tokens: tokenIds.length, wallMs, tokPerS: wallMs > 0 ? tokenIds.length / (wallMs / 1000) : 0 },
  };
}

export function generate(engine: Engine, promptIds: readonly number[], options: GenerateOptions): Promise<GenerateResult> {
  const { sampler, ...rest } = options;
  return generateFrom(engineTokenSource(engine, sampler), promptIds, rest);
}
