// `octoserve drain`, `resume` and `shutdown`: taking a running cluster out of service and back.
import type { Command } from 'commander';
import type { DrainReply__Output, OctoserveClient } from '@octoserve/client';
import { liveLine } from '@octoserve/model';
import { UsageError } from '../errors.js';
import { clusterFlags, printJson, snakeJson, withClient, type ClusterFlags } from './cluster-flags.js';
import { action, flag, newCommand, numberFlag } from './flags.js';

const DRAIN_DESCRIPTION = `Takes the coordinator out of service: Generate and SubmitJob answer UNAVAILABLE, it takes no
more jobs from the queue, and the work in flight finishes. By default waits until it has,
showing how much is left on stderr. \`octoserve resume\` puts it back in service.`;

const DRAIN_EPILOG = `Output: "drained", or "draining: N in flight" (with --no-wait, or when the wait ran out).
Exit code 0 when drained or with --no-wait, 1 when the wait ran out first.`;

interface DrainFlags extends ClusterFlags {
  wait: boolean;
  timeoutMs?: number;
  json?: boolean;
}

/** How often the count of work in flight is asked for while waiting. */
const POLL_MS = 1_000;

function drainText(r: DrainReply__Output): string {
  return r.state === 'drained' ? 'drained' : `${r.state}: ${r.inFlight} in flight`;
}

/** Shows `draining: N in flight` on stderr: redrawn on a terminal, a line per change elsewhere. */
function inFlightReporter(): { show(n: number): void; end(): void } {
  const line = liveLine();
  let last = -1;
  return {
    show(n) {
      if (n === last) return;
      last = n;
      line.show(`draining: ${n} in flight`);
    },
    end() {
      line.end();
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

export function drainCommand(): Command {
  const cmd = newCommand('drain', {
    usage: '[--no-wait] [--timeout-ms MS] [--cluster ADDR] [--json]',
    summary: 'stop taking new work and wait for the work in flight',
    description: DRAIN_DESCRIPTION,
    epilog: DRAIN_EPILOG,
  })
    .addOption(flag('--no-wait', 'return at once, while work may still be in flight'))
    .addOption(numberFlag('--timeout-ms MS', "stop waiting after MS (default: the cluster's, 600000); the drain itself goes on",
      { min: 1, max: 2 ** 32 - 1, integer: true }));
  clusterFlags(cmd).addOption(flag('--json', 'print {"state" ("draining" | "drained"), "in_flight"}'));
  return action<DrainFlags>(cmd, async (flags) => {
    const wait = flags.wait;
    if (!wait && flags.timeoutMs !== undefined) throw new UsageError('--timeout-ms applies only while waiting; it cannot go with --no-wait');
    const timeoutMs = flags.timeoutMs ?? 0;
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
  });
}

/** A command that makes one Admin call and prints its reply (`resume`, `shutdown`). */
function adminCommand(name: string, spec: { summary: string; description: string; epilog: string; json: string },
  call: (client: OctoserveClient) => Promise<{ json: unknown; text: string }>): Command {
  const cmd = clusterFlags(newCommand(name, { usage: '[--cluster ADDR] [--json]', ...spec }))
    .addOption(flag('--json', spec.json));
  return action<ClusterFlags & { json?: boolean }>(cmd, (flags) => withClient(flags, async (client) => {
    const reply = await call(client);
    if (flags.json === true) printJson(reply.json);
    else process.stdout.write(`${reply.text}\n`);
    return 0;
  }));
}

export function resumeCommand(): Command {
  return adminCommand('resume', {
    summary: 'back in service after a drain',
    description: `Puts a drained (or draining) coordinator back in service: it accepts Generate and SubmitJob
again and takes jobs from the queue.`,
    epilog: 'Output: the state it is now in, e.g. "serving".',
    json: 'print {"state"}',
  }, async (client) => {
    const reply = await client.resume();
    return { json: snakeJson(reply), text: reply.state };
  });
}

export function shutdownCommand(): Command {
  return adminCommand('shutdown', {
    summary: 'drain, then stop the coordinator and its workers',
    description: `Drains the coordinator (as \`octoserve drain\` does, waiting for the work in flight), then stops
it and its workers. The reply comes once the drain is done, so this can take as long as the
longest generation in flight (the deadline allows the cluster's drain timeout, 600000 ms, on top
of --deadline-ms).`,
    epilog: 'Output: "shutting down <address>".',
    json: 'print {} once the cluster has answered',
  }, async (client) => {
    await client.shutdown();
    return { json: {}, text: `shutting down ${client.address}` };
  });
}
