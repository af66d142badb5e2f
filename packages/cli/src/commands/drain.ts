// `octoserve drain`, `resume` and `shutdown`: taking a running cluster out of service and back.
import type { DrainReply__Output, OctoserveClient } from '@octoserve/client';
import { UsageError } from '../errors.js';
import type { Command } from './command.js';
import { CLUSTER_HELP, CLUSTER_OPTIONS, printJson, snakeJson, withClient } from './cluster-flags.js';
import { numberFlag, runWithFlags } from './flags.js';

const DRAIN_HELP = `usage: octoserve drain [--no-wait] [--timeout-ms MS] [--cluster ADDR] [--json]

Takes the coordinator out of service: Generate and SubmitJob answer UNAVAILABLE, it takes no
more jobs from the queue, and the work in flight finishes. By default waits until it has,
showing how much is left on stderr. \`octoserve resume\` puts it back in service.

options:
  --no-wait           return at once, while work may still be in flight
  --timeout-ms MS     stop waiting after MS (default: the cluster's, 600000); the drain itself
                      goes on
${CLUSTER_HELP}
  --json              print {"state" ("draining" | "drained"), "in_flight"}
  -h, --help          show this help

Output: "drained", or "draining: N in flight" (with --no-wait, or when the wait ran out).
Exit code 0 when drained or with --no-wait, 1 when the wait ran out first.`;

const DRAIN_OPTIONS = {
  ...CLUSTER_OPTIONS,
  'no-wait': { type: 'boolean' },
  'timeout-ms': { type: 'string' },
} as const;

/** How often the count of work in flight is asked for while waiting. */
const POLL_MS = 1_000;

function drainText(r: DrainReply__Output): string {
  return r.state === 'drained' ? 'drained' : `${r.state}: ${r.inFlight} in flight`;
}

/** Shows `draining: N in flight` on stderr: redrawn on a terminal, a line per change elsewhere. */
function inFlightReporter(): { show(n: number): void; end(): void } {
  const err = process.stderr;
  const tty = err.isTTY === true;
  let last = -1;
  return {
    show(n) {
      if (n === last) return;
      last = n;
      err.write(tty ? `\rdraining: ${n} in flight\x1b[K` : `draining: ${n} in flight\n`);
    },
    end() {
      if (tty && last >= 0) err.write('\r\x1b[K');
    },
  };
}

/** Drain with wait, asking every second (Drain without wait changes nothing more) how much is left. */
async function drainAndWait(client: OctoserveClient, timeoutMs: number, report: (n: number) => void): Promise<DrainReply__Output> {
  const waiting = client.drain({ wait: true, timeoutMs });
  let settled = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = (): void => {
    timer = setTimeout(() => {
      client.drain({ wait: false }).then(
        (r) => { if (!settled) report(r.inFlight); },
        () => { /* the count is only for show: if the cluster fails, the waiting call reports it */ },
      ).finally(() => { if (!settled) tick(); });
    }, POLL_MS);
  };
  tick();
  try {
    return await waiting;
  } finally {
    settled = true;
    clearTimeout(timer);
  }
}

export const drainCommand: Command = {
  summary: 'stop taking new work and wait for the work in flight',
  run: (argv) => runWithFlags('drain', DRAIN_HELP, argv, DRAIN_OPTIONS, async (flags) => {
    const wait = flags['no-wait'] !== true;
    if (!wait && flags['timeout-ms'] !== undefined) throw new UsageError('--timeout-ms applies only while waiting; it cannot go with --no-wait');
    const timeoutMs = numberFlag(flags, 'timeout-ms', 0, { min: 1, max: 2 ** 32 - 1, integer: true });
    const json = flags.json === true;
    return withClient(flags, async (client) => {
      let reply = await client.drain({ wait: false });
      if (wait && reply.state !== 'drained') {
        const reporter = inFlightReporter();
        if (!json) reporter.show(reply.inFlight);
        try {
          reply = await drainAndWait(client, timeoutMs, json ? () => {} : reporter.show);
        } finally {
          reporter.end();
        }
      }
      if (json) printJson(snakeJson(reply));
      else process.stdout.write(drainText(reply) + '\n');
      return !wait || reply.state === 'drained' ? 0 : 1;
    });
  }),
};

const RESUME_HELP = `usage: octoserve resume [--cluster ADDR] [--json]

Puts a drained (or draining) coordinator back in service: it accepts Generate and SubmitJob
again and takes jobs from the queue.

options:
${CLUSTER_HELP}
  --json              print {"state"}
  -h, --help          show this help

Output: the state it is now in, e.g. "serving".`;

export const resumeCommand: Command = {
  summary: 'back in service after a drain',
  run: (argv) => runWithFlags('resume', RESUME_HELP, argv, CLUSTER_OPTIONS, (flags) => withClient(flags, async (client) => {
    const reply = await client.resume();
    if (flags.json === true) printJson(snakeJson(reply));
    else process.stdout.write(`${reply.state}\n`);
    return 0;
  })),
};

const SHUTDOWN_HELP = `usage: octoserve shutdown [--cluster ADDR] [--json]

Drains the coordinator (as \`octoserve drain\` does, waiting for the work in flight), then stops
it and its workers. The reply comes once the drain is done, so this can take as long as the
longest generation in flight (the deadline allows the cluster's drain timeout, 600000 ms, on top
of --deadline-ms).

options:
${CLUSTER_HELP}
  --json              print {} once the cluster has answered
  -h, --help          show this help

Output: "shutting down <address>".`;

export const shutdownCommand: Command = {
  summary: 'drain, then stop the coordinator and its workers',
  run: (argv) => runWithFlags('shutdown', SHUTDOWN_HELP, argv, CLUSTER_OPTIONS, (flags) => withClient(flags, async (client) => {
    await client.shutdown();
    if (flags.json === true) printJson({});
    else process.stdout.write(`shutting down ${client.address}\n`);
    return 0;
  })),
};
