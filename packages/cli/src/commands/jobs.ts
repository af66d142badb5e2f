// `octoserve jobs <submit|get|watch|list|cancel>`: the durable job queue of a running cluster.
import type { Command } from 'commander';
import { JOB_ID_PATTERN } from '@octoserve/coordinator';
import { JOB_STATE_NAMES, type JobStateName } from '@octoserve/client';
import { UsageError } from '../errors.js';
import { clusterFlags, printJson, withClient, type ClusterFlags } from './cluster-flags.js';
import { action, commandGroup, flag, listFlag, newCommand, numberFlag, positionals, required } from './flags.js';
import { requestFromFlags, type RequestFlags } from './generate-cluster.js';
import { followJob } from './job-follow.js';
import { formatJob, formatJobList, jobJson, stateText } from './job-view.js';

/** The JSON of one job, as `get`, `watch` and `cancel` print it. */
const JOB_JSON_HELP = `{"id", "state" (waiting | active | completed | failed | cancelled),
                      "request": {"prompt", "prompt_token_ids", "max_tokens", ...}, "prompt_token_ids",
                      "token_ids" (generated), "text" (prompt + generated), "finish_reason", "error",
                      "attempts", "created_ms", "started_ms", "finished_ms" (Unix ms; 0: not yet),
                      "stats": {"tokens", "wall_ms", "tok_per_s", "queue_ms", "steps",
                      "tokens_per_step", "seed", "coordinator"} or null}`;

const WATCH_OUTPUT_HELP = `Without --json the job's text (prompt + generated) is written to stdout as it grows; when
stdout is not a terminal a progress bar of tokens against the request's --max-tokens (256 when
not set) goes to stderr. At the end one line on stderr says how the job ended, e.g.
"completed (length): 200 tokens in 3.10 s, 64.5 tok/s". Exit code 0 when the job completed, 1
when it failed or was cancelled.`;

interface SubmitFlags extends ClusterFlags, RequestFlags {
  prompt?: string;
  id?: string;
  wait?: boolean;
  json?: boolean;
}

function submitCommand(): Command {
  const cmd = newCommand('submit', {
    usage: '--prompt TEXT [--max-tokens N] [--temperature T] [--top-k K]\n' +
      '                            [--top-p P] [--seed S] [--id JOB_ID] [--wait] [--cluster ADDR] [--json]',
    summary: 'queue a job; prints its id',
    description: `Queues a generation as a durable job and prints its id at once. Any coordinator consuming the
queue may run it; a job whose coordinator dies is taken up again and completes once.`,
    epilog: 'Output: "submitted job <id>".',
  })
    .addOption(flag('--prompt TEXT', "the prompt (tokenized by the cluster's tokenizer, BOS first)"))
    .addOption(numberFlag('--max-tokens N', 'most tokens to generate (default 256)', { min: 1, max: 2 ** 31 - 1, integer: true }))
    .addOption(numberFlag('--temperature T', '0 is greedy (default); > 0 samples from softmax(logits / T)', { min: 0 }))
    .addOption(numberFlag('--top-k K', 'with --temperature > 0: sample among the K most likely tokens (default 0: all)', { min: 0, max: 2 ** 32 - 1, integer: true }))
    .addOption(numberFlag('--top-p P', 'with --temperature > 0: nucleus sampling (default 1: no limit)', { min: Number.MIN_VALUE, max: 1 }))
    .addOption(numberFlag('--seed S', "the sampler's seed (default: chosen by the cluster, shown in the job's stats)", { min: 0, integer: true }))
    .addOption(flag('--id JOB_ID', "the job's id (letters, digits, '-', '_'; at most 64): submitting the same id again returns the existing " +
      'job instead of queuing a second one'))
    .addOption(flag('--wait', 'then follow the job to its end, as `octoserve jobs watch` does'));
  clusterFlags(cmd).addOption(flag('--json', 'print {"id"} instead; with --wait, then one JSON line per update of the job as ' +
    '`octoserve jobs watch --json` prints them'));
  return action<SubmitFlags>(cmd, async (flags) => {
    const request = requestFromFlags(flags, required(flags.prompt, 'prompt'));
    const jobId = flags.id;
    if (jobId !== undefined && !JOB_ID_PATTERN.test(jobId)) throw new UsageError(`--id must be 1 to 64 letters, digits, '-' or '_', got '${jobId}'`);
    const json = flags.json === true;
    return withClient(flags, async (client) => {
      const id = await client.submitJob(request, jobId === undefined ? {} : { jobId });
      if (json) printJson({ id });
      else process.stdout.write(`submitted job ${id}\n`);
      return flags.wait === true ? followJob(client, id, json) : 0;
    });
  });
}

type OneJobFlags = ClusterFlags & { json?: boolean };

/** `jobs get|watch|cancel ID`: usage, what it does, the shared options, the output; `body` gets the id. */
function oneJobCommand(name: string, summary: string, what: string, output: string, body: (flags: OneJobFlags, id: string) => Promise<number>): Command {
  const cmd = clusterFlags(newCommand(name, { usage: 'ID [--cluster ADDR] [--json]', summary, description: what, epilog: output }))
    .addOption(flag('--json', `print ${JOB_JSON_HELP.replace(/\s+/g, ' ')}`))
    .allowExcessArguments();
  return action<OneJobFlags>(cmd, (flags, args) => body(flags, positionals(args, ['job ID'])[0]!));
}

const GET_HELP = ['Shows job ID: its state, attempts, times, tokens and text.',
  `Output: the job's fields (id, state and finish reason, attempts, created/started/finished times
in UTC, tokens generated and in the prompt, stats once completed, the error once failed), a blank
line, then its text (prompt + generated so far).`] as const;

const WATCH_HELP = ['Follows job ID until it has finished: its text as it is generated.',
  `With --json, one JSON object per line, at each update (new tokens, new state).\n${WATCH_OUTPUT_HELP}`] as const;

const CANCEL_HELP = ['Cancels job ID: a waiting job never runs; an active one stops at its next token.',
  "Output: the job's state as left, e.g. \"job <id>: cancelled\" (a job that had already finished keeps its state)."] as const;

const getCommand = (): Command => oneJobCommand('get', "a job's state and text", ...GET_HELP, (flags, id) => withClient(flags, async (client) => {
  const job = await client.getJob(id);
  if (flags.json === true) printJson(jobJson(job));
  else process.stdout.write(formatJob(job));
  return 0;
}));

const watchCommand = (): Command => oneJobCommand('watch', 'follow a job to its end', ...WATCH_HELP, (flags, id) =>
  withClient(flags, (client) => followJob(client, id, flags.json === true)));

const cancelCommand = (): Command => oneJobCommand('cancel', 'cancel a job', ...CANCEL_HELP, (flags, id) => withClient(flags, async (client) => {
  const job = await client.cancelJob(id);
  if (flags.json === true) printJson(jobJson(job));
  else process.stdout.write(`job ${job.id || id}: ${stateText(job)}\n`);
  return 0;
}));

interface ListFlags extends ClusterFlags {
  state?: string[];
  limit?: number;
  pageToken?: string;
  json?: boolean;
}

/** --state, validated: repeated or comma-separated names. */
function statesOf(states: readonly string[]): JobStateName[] {
  for (const s of states) {
    if (!(JOB_STATE_NAMES as readonly string[]).includes(s)) throw new UsageError(`--state must be one of ${JOB_STATE_NAMES.join(', ')}, got '${s}'`);
  }
  return states as JobStateName[];
}

function listCommand(): Command {
  const cmd = newCommand('list', {
    usage: '[--state S ...] [--limit N] [--page-token T] [--cluster ADDR] [--json]',
    summary: 'list jobs, newest first',
    description: "Lists the jobs of the cluster's queue, newest first, a page at a time.",
    epilog: `Output: a table of id, state, attempts, tokens generated, created (UTC), and the finish reason
or the error; then, when there are more, a line on stderr with the --page-token of the next page.`,
  })
    .addOption(listFlag('--state S', 'only jobs in state S: waiting, active, completed, failed or cancelled; give it again or separate ' +
      'states with commas for several (default: every state)'))
    .addOption(numberFlag('--limit N', 'jobs per page (default 50, at most 1000)', { min: 1, max: 1000, integer: true }))
    .addOption(flag('--page-token T', "the next page, as the previous page's last line says"));
  clusterFlags(cmd).addOption(flag('--json', 'print {"jobs": [...], "next_page_token"} (empty on the last page); each job as ' +
    '`octoserve jobs get --json` prints it'));
  return action<ListFlags>(cmd, async (flags) => {
    const states = statesOf(flags.state ?? []);
    const pageSize = flags.limit ?? 0;
    const pageToken = flags.pageToken ?? '';
    return withClient(flags, async (client) => {
      const page = await client.listJobs({ states, pageSize, pageToken });
      if (flags.json === true) {
        printJson({ jobs: page.jobs.map(jobJson), next_page_token: page.nextPageToken });
        return 0;
      }
      process.stdout.write(page.jobs.length === 0 ? 'no jobs\n' : formatJobList(page.jobs));
      if (page.nextPageToken !== '') process.stderr.write(`more jobs: add --page-token ${page.nextPageToken}\n`);
      return 0;
    });
  });
}

export function jobsCommand(): Command {
  return commandGroup('jobs', 'durable jobs on a running cluster: submit, get, watch, list, cancel',
    [submitCommand(), getCommand(), watchCommand(), listCommand(), cancelCommand()]);
}
