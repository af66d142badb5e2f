// `octoserve jobs <submit|get|watch|list|cancel>`: the durable job queue of a running cluster.
import { JOB_ID_PATTERN } from '@octoserve/coordinator';
import { JOB_STATE_NAMES, type JobStateName } from '@octoserve/client';
import { UsageError } from '../errors.js';
import type { Command } from './command.js';
import { CLUSTER_HELP, CLUSTER_OPTIONS, printJson, withClient } from './cluster-flags.js';
import { commandGroup } from './dispatch.js';
import { listFlag, numberFlag, requiredFlag, runWithFlags, runWithPositionals, stringFlag, type FlagValues } from './flags.js';
import { REQUEST_OPTIONS, requestFromFlags } from './generate-cluster.js';
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

const SUBMIT_HELP = `usage: octoserve jobs submit --prompt TEXT [--max-tokens N] [--temperature T] [--top-k K]
                            [--top-p P] [--seed S] [--id JOB_ID] [--wait] [--cluster ADDR] [--json]

Queues a generation as a durable job and prints its id at once. Any coordinator consuming the
queue may run it; a job whose coordinator dies is taken up again and completes once.

options:
  --prompt TEXT       the prompt (tokenized by the cluster's tokenizer, BOS first)
  --max-tokens N      most tokens to generate (default 256)
  --temperature T     0 is greedy (default); > 0 samples from softmax(logits / T)
  --top-k K           with --temperature > 0: sample among the K most likely tokens (default 0: all)
  --top-p P           with --temperature > 0: nucleus sampling (default 1: no limit)
  --seed S            the sampler's seed (default: chosen by the cluster, shown in the job's stats)
  --id JOB_ID         the job's id (letters, digits, '-', '_'; at most 64): submitting the same id
                      again returns the existing job instead of queuing a second one
  --wait              then follow the job to its end, as \`octoserve jobs watch\` does
${CLUSTER_HELP}
  --json              print {"id"} instead; with --wait, then one JSON line per update of the job
                      as \`octoserve jobs watch --json\` prints them
  -h, --help          show this help

Output: "submitted job <id>".`;

const SUBMIT_OPTIONS = {
  ...CLUSTER_OPTIONS,
  ...REQUEST_OPTIONS,
  id: { type: 'string' },
  wait: { type: 'boolean' },
} as const;

const submitCommand: Command = {
  summary: 'queue a job; prints its id',
  run: (argv) => runWithFlags('jobs submit', SUBMIT_HELP, argv, SUBMIT_OPTIONS, async (flags) => {
    const request = requestFromFlags(flags, requiredFlag(flags, 'prompt'));
    const jobId = stringFlag(flags, 'id');
    if (jobId !== undefined && !JOB_ID_PATTERN.test(jobId)) throw new UsageError(`--id must be 1 to 64 letters, digits, '-' or '_', got '${jobId}'`);
    const json = flags.json === true;
    return withClient(flags, async (client) => {
      const id = await client.submitJob(request, jobId === undefined ? {} : { jobId });
      if (json) printJson({ id });
      else process.stdout.write(`submitted job ${id}\n`);
      return flags.wait === true ? followJob(client, id, json) : 0;
    });
  }),
};

/** `jobs get|watch|cancel ID`'s help: usage, what it does, the shared options, the output. */
function oneJobHelp(name: string, what: string, output: string): string {
  return `usage: octoserve jobs ${name} ID [--cluster ADDR] [--json]

${what}

options:
${CLUSTER_HELP}
  --json              print ${JOB_JSON_HELP}
  -h, --help          show this help

${output}`;
}

const GET_HELP = oneJobHelp('get', 'Shows job ID: its state, attempts, times, tokens and text.',
  `Output: the job's fields (id, state and finish reason, attempts, created/started/finished times
in UTC, tokens generated and in the prompt, stats once completed, the error once failed), a blank
line, then its text (prompt + generated so far).`);

const WATCH_HELP = oneJobHelp('watch', 'Follows job ID until it has finished: its text as it is generated.',
  `With --json, one JSON object per line, at each update (new tokens, new state).\n${WATCH_OUTPUT_HELP}`);

const CANCEL_HELP = oneJobHelp('cancel', 'Cancels job ID: a waiting job never runs; an active one stops at its next token.',
  "Output: the job's state as left, e.g. \"job <id>: cancelled\" (a job that had already finished keeps its state).");

const getCommand: Command = {
  summary: "a job's state and text",
  run: (argv) => runWithPositionals('jobs get', GET_HELP, argv, CLUSTER_OPTIONS, ['job ID'], (flags, [id]) => withClient(flags, async (client) => {
    const job = await client.getJob(id!);
    if (flags.json === true) printJson(jobJson(job));
    else process.stdout.write(formatJob(job));
    return 0;
  })),
};

const watchCommand: Command = {
  summary: 'follow a job to its end',
  run: (argv) => runWithPositionals('jobs watch', WATCH_HELP, argv, CLUSTER_OPTIONS, ['job ID'], (flags, [id]) =>
    withClient(flags, (client) => followJob(client, id!, flags.json === true))),
};

const cancelCommand: Command = {
  summary: 'cancel a job',
  run: (argv) => runWithPositionals('jobs cancel', CANCEL_HELP, argv, CLUSTER_OPTIONS, ['job ID'], (flags, [id]) => withClient(flags, async (client) => {
    const job = await client.cancelJob(id!);
    if (flags.json === true) printJson(jobJson(job));
    else process.stdout.write(`job ${job.id || id!}: ${stateText(job)}\n`);
    return 0;
  })),
};

const LIST_HELP = `usage: octoserve jobs list [--state S ...] [--limit N] [--page-token T] [--cluster ADDR] [--json]

Lists the jobs of the cluster's queue, newest first, a page at a time.

options:
  --state S           only jobs in state S: waiting, active, completed, failed or cancelled; give
                      it again or separate states with commas for several (default: every state)
  --limit N           jobs per page (default 50, at most 1000)
  --page-token T      the next page, as the previous page's last line says
${CLUSTER_HELP}
  --json              print {"jobs": [...], "next_page_token"} (empty on the last page); each job
                      as \`octoserve jobs get --json\` prints it
  -h, --help          show this help

Output: a table of id, state, attempts, tokens generated, created (UTC), and the finish reason
or the error; then, when there are more, a line on stderr with the --page-token of the next page.`;

const LIST_OPTIONS = {
  ...CLUSTER_OPTIONS,
  state: { type: 'string', multiple: true },
  limit: { type: 'string' },
  'page-token': { type: 'string' },
} as const;

/** --state, validated: repeated or comma-separated names. */
function statesFlag(flags: FlagValues): JobStateName[] {
  const states = listFlag(flags, 'state');
  for (const s of states) {
    if (!(JOB_STATE_NAMES as readonly string[]).includes(s)) throw new UsageError(`--state must be one of ${JOB_STATE_NAMES.join(', ')}, got '${s}'`);
  }
  return states as JobStateName[];
}

const listCommand: Command = {
  summary: 'list jobs, newest first',
  run: (argv) => runWithFlags('jobs list', LIST_HELP, argv, LIST_OPTIONS, async (flags) => {
    const states = statesFlag(flags);
    const pageSize = numberFlag(flags, 'limit', 0, { min: 1, max: 1000, integer: true });
    const pageToken = stringFlag(flags, 'page-token') ?? '';
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
  }),
};

export const jobsCommands: Record<string, Command> = {
  submit: submitCommand,
  get: getCommand,
  watch: watchCommand,
  list: listCommand,
  cancel: cancelCommand,
};

export const jobsCommand: Command = commandGroup('octoserve jobs', 'subcommand', 'durable jobs on a running cluster: ' + Object.keys(jobsCommands).join(', '), jobsCommands);
