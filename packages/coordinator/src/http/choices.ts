// One OpenAI request as generations on the serving engine: n choices for each prompt, all in the
// continuous batch at once, each with its stop strings cut from the text and its log-probabilities
// beside its tokens. Deltas go out as the steps accept tokens; a stop string, or the client
// going away, aborts the generation so its sequence slot is free at once.
import type { GenerateRequest__Output } from '@octoserve/wire';
import type { TokenLogprob } from '../token-logprobs.js';
import type { Outcome, ServingEngine } from '../serve/serving-engine.js';
import { badRequest } from './errors.js';
import type { Prompt, SamplingParams } from './params.js';
import { StopText } from './stop-text.js';

/** A token's log-probability with the text of the token and of its alternatives. */
export interface LogprobEntry {
  token: string;
  logprob: number | null;
  /** Where the token's text starts in the choice's text. */
  offset: number;
  top: { token: string; logprob: number }[];
}

export interface Delta {
  index: number;
  text: string;
  logprobs: LogprobEntry[];
}

export interface ChoiceResult {
  index: number;
  text: string;
  logprobs: LogprobEntry[] | undefined;
  finishReason: 'stop' | 'length';
  promptTokens: number;
  outcome: Outcome;
}

/** The generations of a request, checked by the engine before any of them runs. */
export interface Planned {
  gens: { index: number; gen: ReturnType<ServingEngine['check']>; promptIndex: number }[];
  promptTokens: number;
}

const SEED_RANGE = 2 ** 31;

export function plan(engine: ServingEngine, prompts: readonly Prompt[], p: SamplingParams): Planned {
  const base = p.seed === undefined ? Date.now() % SEED_RANGE : ((p.seed % SEED_RANGE) + SEED_RANGE) % SEED_RANGE;
  const gens: Planned['gens'] = [];
  let promptTokens = 0;
  prompts.forEach((prompt, pi) => {
    for (let i = 0; i < p.n; i++) {
      const req: GenerateRequest__Output = {
        prompt: 'text' in prompt ? prompt.text : '', promptTokenIds: 'ids' in prompt ? prompt.ids : [], topK: p.topK,
        temperature: p.temperature ?? 1, seed: (base + i) % SEED_RANGE,
        ...(p.maxTokens === undefined ? {} : { maxTokens: p.maxTokens }), ...(p.topP === undefined ? {} : { topP: p.topP }),
      };
      const gen = engine.check(req, 0);
      if (i === 0) promptTokens += gen.promptIds.length;
      gens.push({ index: pi * p.n + i, gen, promptIndex: pi });
    }
  });
  return { gens, promptTokens };
}

/** Runs one choice; `onDelta` gets its text as it may be sent. */
async function runChoice(
  engine: ServingEngine, planned: Planned['gens'][number], p: SamplingParams, signal: AbortSignal, onDelta: (d: Delta) => void,
): Promise<ChoiceResult> {
  const { gen, index } = planned;
  const stop = new StopText(p.stop);
  const abort = new AbortController();
  const onAbort = (): void => abort.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  const wanted = p.logprobs === undefined ? undefined : { top: p.logprobs, out: [] as TokenLogprob[] };
  const piece = new TextDecoder();
  const alt = new TextDecoder();
  const tokenText = (prev: number, id: number): string => alt.decode(engine.tokenizer.decodePiece(prev, id));
  let prev = gen.promptIds[gen.promptIds.length - 1] as number;
  let generated = 0; // characters generated, before the stop cut
  let sentLength = 0;
  let text = '';
  const entries: LogprobEntry[] = [];
  let pending: LogprobEntry[] = [];
  let taken = 0; // entries of wanted.out already turned into LogprobEntry
  const send = (more: string, final: boolean): void => {
    text += more;
    sentLength += more.length;
    // a token goes out with the text it starts in; at the end, every token that was let out
    const ready = final && !stop.stopped ? pending : pending.filter((e) => e.offset < sentLength);
    pending = pending.slice(ready.length);
    entries.push(...ready);
    if (more !== '' || ready.length > 0) onDelta({ index, text: more, logprobs: ready });
  };
  try {
    const outcome = await engine.run(gen, {
      signal: abort.signal,
      ...(wanted === undefined ? {} : { logprobs: wanted }),
      onTokens: (ids) => {
        if (stop.stopped) return;
        let chunk = '';
        for (const id of ids) {
          const t = piece.decode(engine.tokenizer.decodePiece(prev, id), { stream: true });
          if (wanted !== undefined) {
            const lp = wanted.out[taken++];
            const p0 = prev;
            if (lp !== undefined) {
              pending.push({ token: tokenText(p0, id), logprob: lp.logprob, offset: generated + chunk.length, top: lp.top.map((e) => ({ token: tokenText(p0, e.id), logprob: e.logprob })) });
            }
          }
          chunk += t;
          prev = id;
        }
        generated += chunk.length;
        const out = stop.push(chunk);
        if (stop.stopped) {
          // a stop string: the text before it is the last, and the sequence stops now
          pending = pending.filter((e) => e.offset < sentLength + out.length);
          send(out, true);
          abort.abort();
          return;
        }
        send(out, false);
      },
    });
    if (!stop.stopped) send(stop.end() + piece.decode(), true);
    const finishReason = stop.stopped || outcome.finishReason === 'stop' ? 'stop' : 'length';
    return { index, text, logprobs: wanted === undefined ? undefined : entries, finishReason, promptTokens: gen.promptIds.length, outcome };
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/** Runs every choice of `planned` at once; the first failure aborts the rest and rejects. */
export async function runChoices(engine: ServingEngine, planned: Planned, p: SamplingParams, signal: AbortSignal, onDelta: (d: Delta) => void): Promise<ChoiceResult[]> {
  const all = new AbortController();
  const onAbort = (): void => all.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await Promise.all(planned.gens.map((g) => runChoice(engine, g, p, all.signal, onDelta).catch((err: unknown) => { all.abort(); throw err; })));
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/** octoserve's numbers for a response: the coordinator, tokens per step, Medusa acceptance per depth, and each choice's stats. */
export function octoserveField(engine: ServingEngine, results: readonly ChoiceResult[]): Record<string, unknown> {
  const stats = results.map((r) => r.outcome.stats);
  const tokens = stats.reduce((n, s) => n + s.tokens, 0);
  const steps = stats.reduce((n, s) => n + s.steps, 0);
  const perDepth: number[] = [];
  for (const s of stats) {
    const per = (s as { acceptedPerDepth?: number[] }).acceptedPerDepth ?? [];
    per.forEach((v, d) => { perDepth[d] = (perDepth[d] ?? 0) + v; });
  }
  return {
    coordinator: engine.options.address, tokens_per_step: steps > 0 ? tokens / steps : 0, steps, medusa: engine.options.medusa?.name ?? null,
    accepted_per_depth: perDepth, choices: stats,
  };
}
