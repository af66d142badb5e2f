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

export async function generate(engine: Engine, promptIds: readonly number[], options: GenerateOptions): Promise<GenerateResult> {
  const n = promptIds.length;
  checkPromptFits(n, engine.maxSeqLen);
  const limit = Math.min(options.maxTokens, maxNewTokens(n, engine.maxSeqLen));
  const tokenIds: number[] = [];
  const start = performance.now();
  let finishReason: FinishReason = 'length';
  if (limit > 0) {
    // prefill: the whole prompt at positions 0..n-1
    const positions = Int32Array.from(promptIds, (_, i) => i);
    const first = engine.step(promptIds, positions);
    let logits = first instanceof Float32Array ? first : await first;
    const token = new Int32Array(1); // the token fed next, and its position
    const pos = new Int32Array(1);
    let prev = promptIds[n - 1]!;
    for (;;) {
      const next = options.sampler.sample(logits);
      if (options.stopIds.includes(next)) {
        finishReason = 'stop';
        break;
      }
      tokenIds.push(next);
      options.onToken?.(next, prev);
      if (tokenIds.length >= limit) break;
      token[0] = next;
      pos[0] = n + tokenIds.length - 1;
      const out = engine.step(token, pos);
      logits = out instanceof Float32Array ? out : await out;
      prev = next;
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
