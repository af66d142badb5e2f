// The coordinator's HTTP API beside its gRPC one, on the same serving engine (batching, slots,
// limits, drain): OpenAI's /v1/completions, /v1/chat/completions and /v1/models, /tokenize,
// /detokenize, /version and /health. Errors answer in OpenAI's envelope. It listens from the
// start, so /health can say "loading" until the cluster serves.
import { timingSafeEqual } from 'node:crypto';
import { basename } from 'node:path';
import { PassThrough } from 'node:stream';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import type { ServingEngine } from '../serve/serving-engine.js';
import { HttpError, badRequest, envelope, errorReply } from './errors.js';
import { asObject } from './params.js';
import { openaiRoutes } from './openai-routes.js';

/** The largest request body (OpenAI's clients never need more for a prompt this server can hold). */
export const MAX_BODY_BYTES = 1024 * 1024;
/** How long a request body may take to arrive. */
export const BODY_TIMEOUT_MS = 10_000;

/** What the HTTP API answers for: the engine once serving, and why new work is refused. */
export interface HttpBackend {
  engine: ServingEngine;
  /** Why new work is refused (draining, recovering), or undefined while serving. */
  refusing(): string | undefined;
}

export interface HttpServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** The model's path: its id is the file or folder name. */
  modelPath: string;
  /** Requests to /v1, /tokenize and /detokenize must carry `authorization: Bearer <apiKey>`. */
  apiKey?: string | undefined;
  version: string;
  /** More routes on the same server (e.g. GET /metrics); they are not behind the API key. */
  extraRoutes?: (app: FastifyInstance) => void;
  /** How long a request body may take (default BODY_TIMEOUT_MS). */
  bodyTimeoutMs?: number;
}

const PROTECTED = /^\/(v1\/|tokenize|detokenize)/;

function keyMatches(header: string | undefined, key: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
  if (m === null) return false;
  const given = Buffer.from(m[1] as string);
  const want = Buffer.from(key);
  return given.length === want.length && timingSafeEqual(given, want);
}

export class HttpApi {
  private backend: HttpBackend | undefined;
  private stopping = false;

  private constructor(readonly app: FastifyInstance, readonly address: string) {}

  /** The served engine: until then every route that needs it answers 503 "loading". */
  attach(backend: HttpBackend): void { this.backend = backend; }

  /** Why the API refuses new work, or undefined while it serves. */
  notServing(): string | undefined {
    if (this.stopping) return 'the coordinator is stopping';
    if (this.backend === undefined) return 'the coordinator is loading the model onto its workers';
    const cluster = this.backend.engine.cluster as { recovering?: boolean };
    if (cluster.recovering === true) return 'the cluster is recovering from a fault: its workers are restarting';
    return this.backend.refusing();
  }

  static async start(opts: HttpServerOptions): Promise<HttpApi> {
    const app = Fastify({ logger: false, bodyLimit: MAX_BODY_BYTES, return503OnClosing: true, forceCloseConnections: true });
    const modelId = basename(opts.modelPath).replace(/\.bin$/, '');
    let api: HttpApi | undefined;
    const bodyTimeout = opts.bodyTimeoutMs ?? BODY_TIMEOUT_MS;

    app.setErrorHandler((err, _req, reply) => {
      const { statusCode, body } = errorReply(err);
      void reply.code(statusCode).send(body);
    });
    app.setNotFoundHandler((req, reply) => {
      const { statusCode, body } = envelope(404, `no route ${req.method} ${req.url.split('?')[0] ?? ''}`, null, 'not_found');
      void reply.code(statusCode).send(body);
    });
    app.addHook('onRequest', async (req) => {
      if (opts.apiKey !== undefined && PROTECTED.test(req.url) && !keyMatches(req.headers.authorization, opts.apiKey)) {
        throw new HttpError(401, 'a valid API key is needed: send `Authorization: Bearer <key>` (the key given to launch with --api-key or $OCTOSERVE_API_KEY)', null, 'invalid_api_key');
      }
    });
    // a body that never finishes is cut off with a 408 instead of holding the connection
    app.addHook('preParsing', async (_req, _reply, payload) => {
      const timed = new PassThrough();
      const timer = setTimeout(() => {
        timed.destroy(Object.assign(new Error(`the request body did not arrive within ${bodyTimeout} ms`), { statusCode: 408, code: 'request_timeout' }));
      }, bodyTimeout);
      payload.on('end', () => clearTimeout(timer));
      payload.on('error', () => clearTimeout(timer));
      timed.on('close', () => clearTimeout(timer));
      payload.pipe(timed);
      return timed;
    });

    const engine = (): ServingEngine => {
      const why = api?.notServing();
      if (why !== undefined || api?.backend === undefined) throw new HttpError(503, why ?? 'not serving', null, 'not_ready');
      return api.backend.engine;
    };
    openaiRoutes(app, { engine, modelId, modelNames: [modelId, opts.modelPath] });

    app.post('/tokenize', async (req) => {
      const body = asObject(req.body);
      const e = engine();
      if (typeof body.prompt !== 'string') throw badRequest('prompt must be a string', 'prompt');
      const bos = body.add_special_tokens === undefined ? true : body.add_special_tokens === true;
      const tokens = e.tokenizer.encode(body.prompt, { bos });
      return { tokens, count: tokens.length, max_model_len: e.limits.context };
    });
    app.post('/detokenize', async (req) => {
      const body = asObject(req.body);
      const e = engine();
      const ids = body.tokens;
      if (!Array.isArray(ids) || !ids.every((t) => Number.isInteger(t) && t >= 0 && t < e.limits.vocabSize)) {
        throw badRequest(`tokens must be a list of token ids in 0..${e.limits.vocabSize - 1}`, 'tokens');
      }
      const list = ids as number[];
      return { prompt: list.length === 0 ? '' : e.tokenizer.decode(list.slice(1), list[0]) };
    });
    app.get('/version', async () => ({ version: opts.version, model: modelId }));
    app.get('/health', async (_req, reply) => {
      const why = api?.notServing();
      if (why === undefined) return { status: 'ok' };
      const { body } = envelope(503, why, null, 'not_ready');
      return reply.code(503).send(body);
    });
    opts.extraRoutes?.(app);

    const listening = await app.listen({ host: opts.host, port: opts.port }).catch((err: Error) => {
      throw new Error(`cannot serve the HTTP API on ${opts.host}:${opts.port}: ${err.message}`);
    });
    const port = new URL(listening).port;
    const shownHost = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
    api = new HttpApi(app, `http://${shownHost}:${port}`);
    return api;
  }

  /** Stops listening; open requests end. */
  async close(): Promise<void> {
    this.stopping = true;
    await this.app.close();
  }
}
