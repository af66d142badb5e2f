// A client's GenerateRequest checked and filled in: every field within its range, the prompt
// tokenized and within the context. Anything out of range is an RpcError that names the
// field, what was given and what is allowed, and becomes the call's gRPC status.
import { status } from '@grpc/grpc-js';
import type { Tokenizer } from '@octoserve/model';
import { checkDecoded, RpcError } from '@octoserve/wire';
import type { GenerateRequest__Output } from '@octoserve/wire';

/** A refusal the client can act on: INVALID_ARGUMENT and one line. */
export const invalid = RpcError.invalid;

/** A request ready to run. */
export interface Generation {
  promptIds: number[];
  maxTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  seed: number;
}

export interface RequestLimits {
  vocabSize: number;
  /** The model's context: positions a sequence can hold. */
  context: number;
  /** The most top_k a cluster can sample among (the workers' local top-k). */
  maxTopK: number;
  /** With Medusa heads: top_k and top_p do not apply. */
  medusa: boolean;
}

export const DEFAULT_MAX_TOKENS = 256;

function promptOf(req: GenerateRequest__Output, tokenizer: Tokenizer, limits: RequestLimits): number[] {
  if (req.promptTokenIds.length > 0) {
    const bad = req.promptTokenIds.find((t) => t >= limits.vocabSize);
    if (bad !== undefined) throw invalid(`prompt_token_ids holds ${bad}, outside the vocabulary (ids 0..${limits.vocabSize - 1})`);
    return [...req.promptTokenIds];
  }
  if (req.prompt === '') throw invalid('the prompt is empty: give prompt text or prompt_token_ids');
  return tokenizer.encode(req.prompt, { bos: true });
}

/** Checks `req` against the served model; the seed, when not given, is `fallbackSeed`. */
export function checkRequest(req: GenerateRequest__Output, tokenizer: Tokenizer, limits: RequestLimits, fallbackSeed: number): Generation {
  const maxTokens = req.maxTokens ?? DEFAULT_MAX_TOKENS;
  if (!Number.isInteger(maxTokens) || maxTokens < 1) throw invalid(`max_tokens must be at least 1, got ${maxTokens}`);
  if (maxTokens > limits.context) throw invalid(`max_tokens ${maxTokens} is more than the model's context of ${limits.context} tokens`);
  const temperature = req.temperature ?? 0;
  if (!Number.isFinite(temperature) || temperature < 0) throw invalid(`temperature must be a finite number >= 0 (0 is greedy), got ${temperature}`);
  const topP = req.topP ?? 1;
  if (!(topP > 0 && topP <= 1)) throw invalid(`top_p must be in (0, 1], got ${topP}`);
  if (req.topK > limits.maxTopK) throw invalid(`top_k must be at most ${limits.maxTopK} (the workers' top-k), got ${req.topK}`);
  if (limits.medusa && (req.topK !== 0 || topP !== 1)) throw invalid('top_k and top_p do not apply on a cluster serving with Medusa heads');
  const promptIds = promptOf(req, tokenizer, limits);
  if (promptIds.length >= limits.context) {
    throw invalid(`the prompt is ${promptIds.length} tokens; the model's context is ${limits.context}, which leaves no room to generate`);
  }
  const seed = req.seed ?? fallbackSeed;
  return { promptIds, maxTokens, temperature, topK: req.topK, topP, seed };
}
