// GET /metrics on the coordinator's HTTP server: the Prometheus text of the serving metrics.
// The HTTP server listens before the cluster serves, so the metrics are looked up at each
// scrape; until they exist the route answers 503.
import type { FastifyInstance } from 'fastify';
import type { ServingMetrics } from './serving-metrics.js';

/** Registers GET /metrics (for HttpServerOptions.extraRoutes); `metrics` is undefined until serving. */
export function metricsRoute(metrics: () => ServingMetrics | undefined): (app: FastifyInstance) => void {
  return (app) => {
    app.get('/metrics', async (_req, reply) => {
      const m = metrics();
      if (m === undefined) return reply.code(503).type('text/plain; charset=utf-8').send('the coordinator is loading: no metrics yet\n');
      const { contentType, body } = await m.text();
      return reply.type(contentType).send(body);
    });
  };
}
