// A worker process's life, start to exit: start the rank, then stop it on SIGTERM or SIGINT, when
// the process that started it goes away, or when its coordinator's step stream ends.
import { startWorker, type WorkerOptions } from './worker-process.js';

/** The exit code of a worker whose coordinator's step stream ended (EX_TEMPFAIL: try again). */
export const COORDINATOR_LOST_EXIT = 75;

/**
 * Runs one rank until it is told to stop, and resolves with the process's exit code: 0, or
 * COORDINATOR_LOST_EXIT when the cluster it served is gone (a supervisor then starts a fresh
 * worker, which registers again). Lines about stopping go to `say` (default stderr).
 */
export async function serveWorker(options: Omit<WorkerOptions, 'onCoordinatorLost'>, say: (line: string) => void = (line) => { process.stderr.write(`${line}\n`); }): Promise<number> {
  let lost: ((why: string) => void) | undefined;
  const worker = await startWorker({ ...options, onCoordinatorLost: (why) => lost?.(why) });
  let code = 0;
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (why: string): void => {
      if (stopping) return;
      stopping = true;
      say(`rank ${options.rank}: stopping (${why})`);
      void worker.stop().finally(resolve);
    };
    lost = (why) => { code = COORDINATOR_LOST_EXIT; stop(`${why}; exiting with ${COORDINATOR_LOST_EXIT} so that a supervisor starts a fresh worker`); };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    // started by a local coordinator: its IPC channel is our lifeline
    if (process.connected) process.once('disconnect', () => stop('the coordinator process went away'));
  });
  return code;
}
