// The fields of OpenAI's completion and chat requests, checked: a field of the wrong type or
// out of range is a 400 that names it; fields octoserve does not know are ignored.
import type { ChatMessage } from '@octoserve/model';
import { badRequest } from './errors.js';

type Body = Record<string, unknown>;

/** What both endpoints sample with. */
export interface SamplingParams {
  model: string | undefined;
  maxTokens: number | undefined;
  temperature: number | undefined;
  topP: number | undefined;
  topK: number;
  seed: number | undefined;
  stop: string[];
  n: number;
  stream: boolean;
  includeUsage: boolean;
  /** Alternatives per token (0: only the chosen token's); undefined: no logprobs. */
  logprobs: number | undefined;
  user: string | undefined;
}

/** A prompt as text or as token ids. */
export type Prompt = { text: string } | { ids: number[] };

/** The most alternatives per token a request may ask for (OpenAI's bound). */
export const MAX_TOP_LOGPROBS = 20;
/** The most sequences one request may ask for. */
export const MAX_N = 16;

export function asObject(body: unknown): Body {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('the request body must be a JSON object');
  return body as Body;
}

const given = (b: Body, key: string): boolean => b[key] !== undefined && b[key] !== null;

function num(b: Body, key: string, check: (v: number) => boolean, what: string): number | undefined {
  if (!given(b, key)) return undefined;
  const v = b[key];
  if (typeof v !== 'number' || !Number.isFinite(v) || !check(v)) throw badRequest(`${key} must be ${what}, got ${JSON.stringify(v)}`, key);
  return v;
}

const int = (b: Body, key: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined =>
  num(b, key, (v) => Number.isInteger(v) && v >= min && v <= max, max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer in [${min}, ${max}]`);

function bool(b: Body, key: string): boolean | undefined {
  if (!given(b, key)) return undefined;
  if (typeof b[key] !== 'boolean') throw badRequest(`${key} must be true or false, got ${JSON.stringify(b[key])}`, key);
  return b[key] as boolean;
}

function str(b: Body, key: string): string | undefined {
  if (!given(b, key)) return undefined;
  if (typeof b[key] !== 'string') throw badRequest(`${key} must be a string, got ${JSON.stringify(b[key])}`, key);
  return b[key] as string;
}

function stopOf(b: Body): string[] {
  if (!given(b, 'stop')) return [];
  const v = b.stop;
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || !list.every((s) => typeof s === 'string') || list.length > 4) {
    throw badRequest(`stop must be a string or a list of at most 4 strings, got ${JSON.stringify(v)}`, 'stop');
  }
  return (list as string[]).filter((s) => s !== '');
}

/** The fields both endpoints share; `logprobs` is read by each endpoint. */
export function samplingParams(b: Body, logprobs: number | undefined): SamplingParams {
  const streamOptions = b.stream_options;
  if (given(b, 'stream_options') && (typeof streamOptions !== 'object' || Array.isArray(streamOptions))) {
    throw badRequest('stream_options must be an object', 'stream_options');
  }
  const includeUsage = streamOptions === undefined || streamOptions === null ? undefined : bool(streamOptions as Body, 'include_usage');
  const maxTokens = int(b, 'max_completion_tokens', 1) ?? int(b, 'max_tokens', 1);
  return {
    model: str(b, 'model'), maxTokens,
    temperature: num(b, 'temperature', (v) => v >= 0, 'a number >= 0'),
    topP: num(b, 'top_p', (v) => v > 0 && v <= 1, 'a number in (0, 1]'),
    // -1 is how vLLM's clients say "no top-k"
    topK: Math.max(0, int(b, 'top_k', -1) ?? 0),
    seed: int(b, 'seed', Number.MIN_SAFE_INTEGER),
    stop: stopOf(b), n: int(b, 'n', 1, MAX_N) ?? 1, stream: bool(b, 'stream') ?? false, includeUsage: includeUsage ?? false,
    logprobs, user: str(b, 'user'),
  };
}

const isIds = (v: unknown): v is number[] => Array.isArray(v) && v.length > 0 && v.every((t) => Number.isInteger(t) && (t as number) >= 0);

/** /v1/completions' prompt: text, token ids, or a list of either. */
export function promptsOf(b: Body): Prompt[] {
  const v = b.prompt;
  const wrong = (): Error => badRequest('prompt must be a string, a list of token ids, or a list of strings or of token id lists', 'prompt');
  if (typeof v === 'string') return [{ text: v }];
  if (isIds(v)) return [{ ids: v }];
  if (!Array.isArray(v) || v.length === 0) throw wrong();
  return v.map((p) => {
    if (typeof p === 'string') return { text: p };
    if (isIds(p)) return { ids: p };
    throw wrong();
  });
}

/** /v1/completions' logprobs: an integer count of alternatives. */
export function completionLogprobs(b: Body): number | undefined {
  return int(b, 'logprobs', 0, MAX_TOP_LOGPROBS);
}

/** /v1/chat/completions' logprobs (a flag) and top_logprobs (a count). */
export function chatLogprobs(b: Body): number | undefined {
  const on = bool(b, 'logprobs') ?? false;
  const top = int(b, 'top_logprobs', 0, MAX_TOP_LOGPROBS);
  if (top !== undefined && !on) throw badRequest('top_logprobs needs logprobs: true', 'top_logprobs');
  return on ? top ?? 0 : undefined;
}

/** The chat messages: role and content (text, or a list of text parts). */
export function messagesOf(b: Body): ChatMessage[] {
  const v = b.messages;
  if (!Array.isArray(v) || v.length === 0) throw badRequest('messages must be a non-empty list of {role, content}', 'messages');
  return v.map((m, i) => {
    const param = `messages[${i}]`;
    if (typeof m !== 'object' || m === null) throw badRequest(`${param} must be an object with role and content`, param);
    const { role, content } = m as Body;
    if (typeof role !== 'string') throw badRequest(`${param}.role must be a string`, `${param}.role`);
    if (typeof content === 'string') return { role, content };
    if (content === null || content === undefined) return { role, content: '' };
    if (Array.isArray(content) && content.every((p) => typeof p === 'object' && p !== null && (p as Body).type === 'text' && typeof (p as Body).text === 'string')) {
      return { role, content: content.map((p) => (p as Body).text as string).join('') };
    }
    throw badRequest(`${param}.content must be a string or a list of text parts`, `${param}.content`);
  });
}
