// A cluster that comes back: when a worker dies (its process exits, or a step fails or times
// out), the supervisor stops what is left, starts the cluster again (new worker processes,
// shards reloaded, a new communicator) and lets the generations that were running go on from
// the tokens they had: they prefill their committed tokens into fresh KV caches. Steps asked
// for while it restarts fail, and their callers wait in recover().
import type { ClusterStep, GreedyRun, ServedCluster } from '../cluster.js';
import type { Cluster } from '../cluster.js';
import type { SequenceStep } from '@octoserve/wire';

export interface SupervisorOptions {
  /** Starts a cluster; `onFailure` is to be called when it fails (Cluster.start's onFailure). */
  start: (onFailure: (err: Error) => void) => Promise<Cluster>;
  /** Restarts within `windowMs` beyond which the supervisor gives up (default 5 in 10 minutes). */
  maxRestarts?: number;
  windowMs?: number;
  log?: (line: string) => void;
  /** Called once when it gives up: the cluster cannot be brought back. */
  onGiveUp?: (err: Error) => void;
}

export class SupervisedCluster implements ServedCluster {
  private restarting: Promise<void> | undefined;
  private gaveUp: Error | undefined;
  private closed = false;
  private readonly restartTimes: number[] = [];
  private readonly watchers: ((recovering: boolean) => void)[] = [];
  restarts = 0;

  private constructor(private current: Cluster, private readonly opts: SupervisorOptions) {}

  static async start(opts: SupervisorOptions): Promise<SupervisedCluster> {
    let supervisor: SupervisedCluster | undefined;
    let early: Error | undefined;
    const cluster = await opts.start((err) => { if (supervisor === undefined) early ??= err; else supervisor.failedFrom(cluster, err); });
    supervisor = new SupervisedCluster(cluster, opts);
    if (early !== undefined) supervisor.failed(early);
    return supervisor;
  }

  /** A failure of `cluster`, which matters only while it is the current one (not one being replaced). */
  private failedFrom(cluster: Cluster, err: Error): void {
    if (cluster === this.current) this.failed(err);
  }

  get config(): Cluster['config'] { return this.current.config; }
  get options(): Cluster['options'] { return this.current.options; }
  get tracer(): Cluster['tracer'] { return this.current.tracer; }
  get tp(): number { return this.current.tp; }
  get registrations(): Cluster['registrations'] { return this.current.registrations; }
  get workerPids(): number[] { return this.current.workerPids; }
  /** Whether a restart after a fault is under way. */
  get recovering(): boolean { return this.restarting !== undefined; }

  step(sequences: SequenceStep[], pickedIds?: Uint32Array, greedy?: GreedyRun): Promise<ClusterStep> {
    return this.current.step(sequences, pickedIds, greedy);
  }

  health(timeoutMs: number): ReturnType<Cluster['health']> {
    return this.current.health(timeoutMs);
  }

  /** The cluster failed (a worker exited, a step failed): restart it once, whoever noticed first. */
  private failed(err: Error): void {
    if (this.closed || this.gaveUp !== undefined) return;
    if (this.restarting !== undefined) return;
    this.restarting = this.restart(err).finally(() => {
      this.restarting = undefined;
      for (const w of this.watchers) w(false);
    });
    for (const w of this.watchers) w(true);
  }

  /** Calls `watcher(true)` when a restart begins and `watcher(false)` when it has ended (back, or given up). */
  watchRecovery(watcher: (recovering: boolean) => void): void {
    this.watchers.push(watcher);
  }

  private async restart(err: Error): Promise<void> {
    const log = this.opts.log ?? (() => {});
    const now = Date.now();
    const window = this.opts.windowMs ?? 600_000;
    while (this.restartTimes.length > 0 && now - (this.restartTimes[0] as number) > window) this.restartTimes.shift();
    if (this.restartTimes.length >= (this.opts.maxRestarts ?? 5)) {
      this.gaveUp = new Error(`the cluster failed ${this.restartTimes.length + 1} times within ${window / 1000} s; last: ${err.message}`);
      this.opts.onGiveUp?.(this.gaveUp);
      throw this.gaveUp;
    }
    this.restartTimes.push(now);
    const t0 = performance.now();
    log(`cluster failed (${err.message}); restarting it`);
    await this.current.close();
    for (let attempt = 1; ; attempt++) {
      if (this.closed) throw err;
      try {
        const next: Cluster = await this.opts.start((e) => this.failedFrom(next, e));
        this.current = next;
        this.restarts += 1;
        log(`cluster back after ${(performance.now() - t0).toFixed(0)} ms (restart ${this.restarts}); running generations go on from their committed tokens`);
        return;
      } catch (startErr) {
        if (attempt >= 3) {
          this.gaveUp = new Error(`could not restart the cluster: ${(startErr as Error).message}`);
          this.opts.onGiveUp?.(this.gaveUp);
          throw this.gaveUp;
        }
        log(`restart attempt ${attempt} failed (${(startErr as Error).message}); trying again`);
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
  }

  async recover(err: unknown): Promise<void> {
    if (this.gaveUp !== undefined) throw this.gaveUp;
    if (this.restarting === undefined && this.current.failed !== undefined) this.failed(this.current.failed);
    if (this.restarting === undefined) throw err; // the cluster is fine: the error was not its failure
    await this.restarting;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.restarting?.catch(() => {});
    await this.current.close();
  }
}
