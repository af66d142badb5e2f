// One log line per Redis outage, whichever connection notices first: what happened and what
// octoserve does about it, then one line when Redis answers again. Connection errors repeat on
// every retry and arrive from each connection and from BullMQ's queue and worker; without this
// they would be a line (or a stack trace) each.
import type { Redis } from 'ioredis';

export class RedisOutageLog {
  private down = false;
  private readonly connections: Redis[] = [];

  constructor(private readonly url: string, private readonly log: (line: string) => void) {}

  /** A connection or BullMQ object reported `err`: an outage once, any other error as it comes. */
  failed(err: Error): void {
    if (!isConnectionError(err)) {
      this.log(`jobs: ${err.message}`);
      return;
    }
    // a late report from a call that failed before every connection came back is not news
    if (this.down || this.allReady()) return;
    this.down = true;
    this.log(`jobs: lost Redis at ${this.url} (${err.message}); reconnecting every 2 s; ` +
      'queued jobs stay in Redis and go on once it is back');
  }

  /** A connection is ready again; the outage is over once all of them are. */
  recovered(): void {
    if (!this.down || !this.allReady()) return;
    this.down = false;
    this.log(`jobs: Redis at ${this.url} is back; the queue goes on`);
  }

  /** Reports this connection's errors and recoveries here. */
  watch(redis: Redis): void {
    this.connections.push(redis);
    redis.on('error', (err: Error) => this.failed(err));
    redis.on('ready', () => this.recovered());
  }

  private allReady(): boolean {
    return this.connections.every((c) => c.status === 'ready');
  }
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** Whether `err` says the link to Redis is down (rather than that a command went wrong). */
export function isConnectionError(err: Error): boolean {
  const code = (err as { code?: unknown }).code;
  return (typeof code === 'string' && CONNECTION_CODES.has(code)) || /connection is closed|connect ETIMEDOUT|Stream isn't writeable/i.test(err.message);
}
