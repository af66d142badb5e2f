import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { metricsRoute } from './metrics-route.js';
import { ServingMetrics } from './serving-metrics.js';

test('GET /metrics serves the Prometheus text once there are metrics, 503 before', async () => {
  let metrics: ServingMetrics | undefined;
  const app = Fastify();
  metricsRoute(() => metrics)(app);
  try {
    assert.equal((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 503);
    metrics = new ServingMetrics();
    metrics.tokens(11);
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    assert.match(res.body, /^octoserve:generation_tokens_total 11$/m);
  } finally {
    await app.close();
  }
});
