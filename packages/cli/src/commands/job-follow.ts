// Following a job to its end (WatchJob), for `jobs watch` and `jobs submit --wait`: its text
// streamed to stdout with a token progress bar on stderr, or one JSON line per update.
import { isFinishedJobState, jobStateName, OctoserveError, type Job__Output, type OctoserveClient } from '@octoserve/client';
import { printJson } from './cluster-flags.js';
import { DEFAULT_MAX_TOKENS, finishSummary, jobJson } from './job-view.js';
import { progressBar, type ProgressBar } from '@octoserve/model';

/** Shows each update of a job as text: the text as it grows, and (when it does not garble the text) a progress bar. */
function textView(): { show(job: Job__Output): void; end(job: Job__Output): void } {
  const out = process.stdout;
  let printed = '';
  let bar: ProgressBar | undefined;
  // stdout on a terminal shows the text growing; a bar redrawn on the same screen would cut into it
  const withBar = out.isTTY !== true;
  return {
    show(job) {
      if (job.text.startsWith(printed)) {
        out.write(job.text.slice(printed.length));
      } else {
        // taken up again after its coordinator died: the text starts over
        out.write('\n');
        process.stderr.write(`(attempt ${job.attempts}: the job started again)\n`);
        out.write(job.text);
      }
      printed = job.text;
      if (withBar) {
        bar ??= progressBar('tokens', job.request?.maxTokens || DEFAULT_MAX_TOKENS);
        bar.update(job.tokenIds.length);
      }
    },
    end(job) {
      if (printed !== '') out.write('\n');
      if (bar !== undefined) bar.done(finishSummary(job));
      else process.stderr.write(finishSummary(job) + '\n');
    },
  };
}

/**
 * Watches job `id` until it has finished; exit code 0 when it completed, 1 when it failed or
 * was cancelled. A watch that goes quiet past the idle timeout after it has answered (a job
 * waiting in a long queue changes seldom) is opened again: WatchJob sends the job at once, so
 * a cluster that is gone fails the next try.
 */
export async function followJob(client: OctoserveClient, id: string, json: boolean): Promise<number> {
  const view = json ? { show: (job: Job__Output) => printJson(jobJson(job)), end: () => {} } : textView();
  let last: Job__Output | undefined;
  for (;;) {
    let answered = false;
    try {
      for await (const job of client.watchJob(id)) {
        answered = true;
        last = job;
        view.show(job);
      }
      break;
    } catch (err) {
      const quiet = err instanceof OctoserveError && err.codeName === 'DEADLINE_EXCEEDED' && answered;
      if (!quiet || (last !== undefined && isFinishedJobState(last.state))) throw err;
    }
  }
  // the stream ends when the job has finished; if it ended early, ask once what became of it
  if (last === undefined || !isFinishedJobState(last.state)) {
    last = await client.getJob(id);
    view.show(last);
  }
  view.end(last);
  return jobStateName(last.state) === 'completed' ? 0 : 1;
}
