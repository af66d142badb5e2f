// `octoserve status`: what a running cluster is doing (Admin.ClusterStatus), as text or JSON.
import type { ClusterStatusReply__Output, QueueStatus__Output } from '@octoserve/client';
import type { Command } from 'commander';
import { clusterFlags, printJson, snakeJson, withClient, type ClusterFlags } from './cluster-flags.js';
import { action, flag, newCommand } from './flags.js';
import { fixed, formatFields, formatTable, truncate, type Cell } from './table.js';

const DESCRIPTION = `Asks a running cluster's coordinator what it is doing: its state (serving, draining or
drained), the model, the tensor-parallel ranks with their step timings, and the queues.`;

const EPILOG = `Output: the cluster's fields, one per line; a table of ranks (rank, host, pid, device, state,
resident memory and the bytes of its shard's weights in MiB, step time p50 and p99, compute and all-reduce p50, all in ms, over the
coordinator's last 256 steps at most); then the queues: interactive requests running and
waiting here, jobs running here, and the shared job queue by state.`;

/** 59 s -> '59.0 s', 3723 s -> '1h 02m 03s'. */
export function formatUptime(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 60) return `${fixed(seconds, 1)} s`;
  const s = Math.floor(seconds);
  const [d, h, m, sec] = [Math.floor(s / 86400), Math.floor((s % 86400) / 3600), Math.floor((s % 3600) / 60), s % 60];
  const two = (n: number): string => String(n).padStart(2, '0');
  if (d > 0) return `${d}d ${two(h)}h ${two(m)}m`;
  if (h > 0) return `${h}h ${two(m)}m ${two(sec)}s`;
  return `${m}m ${two(sec)}s`;
}

const count = (n: number): string => n.toLocaleString('en-US');

function queueFields(q: QueueStatus__Output | null): [string, Cell][] {
  if (q === null) return [['queue', '(not reported)']];
  const backend = q.durable ? `${q.backend} (durable)` : `${q.backend || 'in-process'} (not durable: queued jobs are lost if this coordinator stops)`;
  return [
    ['queue', backend],
    ['generate', `${q.generateActive} active, ${q.generateWaiting} waiting for a slot (this coordinator)`],
    ['jobs', `${q.jobsRunningHere} running here; queue: ${q.jobsWaiting} waiting, ${q.jobsActive} active, ` +
      `${q.jobsCompleted} completed, ${q.jobsFailed} failed`],
  ];
}

/** `octoserve status`'s text: the cluster's fields, the ranks' table, the queues. */
export function formatStatus(r: ClusterStatusReply__Output): string {
  const m = r.model;
  const medusa = m === null || m.medusaHeads === 0 ? 'off' : `${m.medusaHeads} heads${m.medusaTree === '' ? '' : `, tree ${truncate(m.medusaTree, 60)}`}`;
  const head = formatFields([
    ['state', r.state],
    ['address', r.address],
    ['model', m === null ? '(not reported)' : m.architecture],
    ...(m === null ? [] : [
      ['path', m.path], ['vocab', `${count(m.vocabSize)} tokens, context ${count(m.context)} positions`], ['medusa', medusa],
    ] as [string, Cell][]),
    ['tp', r.tp],
    ['max sequences', r.maxSequences],
    ['all-reduce', r.allreduce],
    ['uptime', formatUptime(r.uptimeS)],
    ['steps', count(r.steps)],
    ['tokens', count(r.tokens)],
  ]);
  const ranks = formatTable(
    ['rank', 'host', 'pid', 'device', 'state', 'rss MiB', 'weights MiB', 'step p50 ms', 'step p99 ms', 'compute p50 ms', 'all-reduce p50 ms'],
    r.ranks.map((k) => [
      k.rank, k.host, k.pid, k.device, truncate(k.state, 40), fixed(k.rssBytes / 2 ** 20, 1), fixed(k.weightBytes / 2 ** 20, 1),
      fixed(k.stepMsP50, 2), fixed(k.stepMsP99, 2), fixed(k.computeMsP50, 2), fixed(k.allreduceMsP50, 2),
    ]),
  );
  return `${head}\n${r.ranks.length === 0 ? '(no ranks)\n' : ranks}\n${formatFields(queueFields(r.queue))}`;
}

export function statusCommand(): Command {
  const cmd = clusterFlags(newCommand('status', {
    usage: '[--cluster ADDR] [--json]',
    summary: "a running cluster's state, ranks and queues",
    description: DESCRIPTION,
    epilog: EPILOG,
  }))
    .addOption(flag('--json', 'print the reply as one JSON object, under admin.proto\'s field names: {"state", "address", "model": {"path", ' +
      '"architecture", "vocab_size", "context", "medusa_heads", "medusa_tree"}, "tp", "ranks": [{"rank", "host", "pid", "device", "state", ' +
      '"rss_bytes", "weight_bytes", "last_step_ms", "step_ms_p50", "step_ms_p99", "compute_ms_p50", "allreduce_ms_p50"}], "queue": {...}, "steps", "tokens", ' +
      '"uptime_s", "max_sequences", "allreduce"}'));
  return action<ClusterFlags & { json?: boolean }>(cmd, (flags) => withClient(flags, async (client) => {
    const reply = await client.clusterStatus();
    if (flags.json === true) printJson(snakeJson(reply));
    else process.stdout.write(formatStatus(reply));
    return 0;
  }));
}
