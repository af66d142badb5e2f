// POST /v1/completions and POST /v1/chat/completions: a request's fields checked, its choices
// run on the serving engine, the answer as one JSON body or as server-sent chunks.
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ChatTokenizer } from '@octoserve/model';
import type { ServingEngine } from '../serve/serving-engine.js';
import { octoserveField, plan, runChoices } from './choices.js';
import type { ChoiceResult, Delta, LogprobEntry } from './choices.js';
import { HttpError, badRequest, errorReply } from './errors.js';
import { asObject, chatLogprobs, completionLogprobs, messagesOf, promptsOf, samplingParams } from './params.js';
import type { Prompt, SamplingParams } from './params.js';
import { EventStream } from './sse.js';

export interface Served {
  /** The engine, once the cluster serves; else why not (loading, draining, recovering). */
  engine(): ServingEngine;
  /** The served model's id and the names it also answers to. */
  modelId: string;
  modelNames: readonly string[];
}

type Kind = 'completion' | 'chat';

const newId = (kind: Kind): string => `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomBytes(12).toString('hex')}`;

function completionLogprobsBody(entries: readonly LogprobEntry[]): unknown {
  return {
    tokens: entries.map((e) => e.token), token_logprobs: entries.map((e) => e.logprob),
    top_logprobs: entries.map((e) => Object.fromEntries(e.top.map((t) => [t.token, t.logprob]))), text_offset: entries.map((e) => e.offset),
  };
}

const bytesOf = (s: string): number[] => [...Buffer.from(s, 'utf8')];

function chatLogprobsBody(entries: readonly LogprobEntry[]): unknown {
  return {
    content: entries.map((e) => ({
      token: e.token, logprob: e.logprob, bytes: bytesOf(e.token), top_logprobs: e.top.map((t) => ({ token: t.token, logprob: t.logprob, bytes: bytesOf(t.token) })),
    })),
  };
}

function usageOf(promptTokens: number, results: readonly ChoiceResult[]): { prompt_tokens: number; completion_tokens: number; total_tokens: number } {
  const completion = results.reduce((n, r) => n + r.outcome.tokenIds.length, 0);
  return { prompt_tokens: promptTokens, completion_tokens: completion, total_tokens: promptTokens + completion };
}

function checkModel(served: Served, model: string | undefined): void {
  if (model !== undefined && !served.modelNames.includes(model)) {
    throw new HttpError(404, `the model '${model}' does not exist here; this server serves '${served.modelId}'`, 'model', 'model_not_found');
  }
}

function chatPrompt(engine: ServingEngine, body: Record<string, unknown>): Prompt {
  const messages = messagesOf(body);
  const tokenizer = engine.tokenizer as Partial<ChatTokenizer>;
  if (tokenizer.applyChatTemplate === undefined || tokenizer.chatTemplate === undefined) {
    throw badRequest('this model has no chat template (tokenizer_config.json has no chat_template): use /v1/completions with a prompt', 'messages');
  }
  const text = tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true });
  return { ids: engine.tokenizer.encode(text, { bos: false }) };
}

async function answer(kind: Kind, served: Served, req: FastifyRequest, reply: FastifyReply): Promise<void> {
  const body = asObject(req.body);
  const logprobs = kind === 'chat' ? chatLogprobs(body) : completionLogprobs(body);
  const p: SamplingParams = samplingParams(body, logprobs);
  checkModel(served, p.model);
  const engine = served.engine();
  const prompts = kind === 'chat' ? [chatPrompt(engine, body)] : promptsOf(body);
  const planned = plan(engine, prompts, p);
  const id = newId(kind);
  const created = Math.floor(Date.now() / 1000);
  const model = served.modelId;
  const object = kind === 'chat' ? 'chat.completion' : 'text_completion';

  // the generation stops when the client goes away
  const gone = new AbortController();
  reply.raw.on('close', () => { if (!reply.raw.writableFinished) gone.abort(); });

  if (!p.stream) {
    const results = await runChoices(engine, planned, p, gone.signal, () => {});
    const choices = results.map((r) => (kind === 'chat'
      ? { index: r.index, message: { role: 'assistant', content: r.text }, logprobs: r.logprobs === undefined ? null : chatLogprobsBody(r.logprobs), finish_reason: r.finishReason }
      : { index: r.index, text: r.text, logprobs: r.logprobs === undefined ? null : completionLogprobsBody(r.logprobs), finish_reason: r.finishReason }));
    await reply.send({ id, object, created, model, choices, usage: usageOf(planned.promptTokens, results), octoserve: octoserveField(engine, results) });
    return;
  }

  reply.hijack();
  const sse = new EventStream(reply.raw);
  const chunkObject = kind === 'chat' ? 'chat.completion.chunk' : 'text_completion';
  const usage = p.includeUsage ? { usage: null } : {};
  const roleSent = new Set<number>();
  const chunk = (choice: Record<string, unknown>, extra: Record<string, unknown> = {}): void => {
    sse.send({ id, object: chunkObject, created, model, choices: [choice], ...usage, ...extra });
  };
  const delta = (d: Delta): void => {
    if (kind === 'chat') {
      if (!roleSent.has(d.index)) {
        roleSent.add(d.index);
        chunk({ index: d.index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null });
      }
      chunk({ index: d.index, delta: { content: d.text }, logprobs: p.logprobs === undefined ? null : chatLogprobsBody(d.logprobs), finish_reason: null });
    } else {
      chunk({ index: d.index, text: d.text, logprobs: p.logprobs === undefined ? null : completionLogprobsBody(d.logprobs), finish_reason: null });
    }
  };
  try {
    const results = await runChoices(engine, planned, p, gone.signal, delta);
    if (gone.signal.aborted) return;
    for (const r of results) {
      const stats = octoserveField(engine, [r]);
      if (kind === 'chat') {
        if (!roleSent.has(r.index)) chunk({ index: r.index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null });
        chunk({ index: r.index, delta: {}, logprobs: null, finish_reason: r.finishReason }, { octoserve: stats });
      } else {
        chunk({ index: r.index, text: '', logprobs: null, finish_reason: r.finishReason }, { octoserve: stats });
      }
    }
    if (p.includeUsage) {
      sse.send({ id, object: chunkObject, created, model, choices: [], usage: usageOf(planned.promptTokens, results), octoserve: octoserveField(engine, results) });
    }
    sse.done();
  } catch (err) {
    if (gone.signal.aborted) return;
    const { statusCode, body: errBody } = errorReply(err);
    if (!sse.open) {
      // nothing sent yet: the refusal keeps its HTTP status
      reply.raw.writeHead(statusCode, { 'content-type': 'application/json; charset=utf-8' });
      reply.raw.end(JSON.stringify(errBody));
      return;
    }
    sse.send(errBody);
    sse.done();
  }
}

export function openaiRoutes(app: FastifyInstance, served: Served): void {
  app.post('/v1/completions', (req, reply) => answer('completion', served, req, reply));
  app.post('/v1/chat/completions', (req, reply) => answer('chat', served, req, reply));
  app.get('/v1/models', async () => ({
    object: 'list', data: [{ id: served.modelId, object: 'model', created: 0, owned_by: 'octoserve', max_model_len: served.engine().limits.context }],
  }));
  app.get('/v1/models/:id', async (req) => {
    const { id } = req.params as { id: string };
    checkModel(served, id);
    return { id: served.modelId, object: 'model', created: 0, owned_by: 'octoserve' };
  });
}
