// Server-sent events as OpenAI frames them: `data: {chunk}\n\n` per chunk, `data: [DONE]\n\n` at
// the end. The headers go out with the first chunk, so a request refused before any token (a
// full queue) still gets its HTTP status.
import type { ServerResponse } from 'node:http';

export class EventStream {
  private started = false;

  constructor(private readonly res: ServerResponse) {}

  get open(): boolean { return this.started; }

  send(chunk: unknown): void {
    if (this.res.destroyed) return;
    if (!this.started) {
      this.started = true;
      this.res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    }
    this.res.write(`data: ${JSON.stringify(chunk)}\n\n`);
  }

  done(): void {
    if (this.res.destroyed) return;
    this.res.end('data: [DONE]\n\n');
  }
}
