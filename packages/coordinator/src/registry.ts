// The Registry service: workers announce themselves; the coordinator waits until all ranks have.
// With a cluster token, only workers that carry it may join.
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { limitDetails, requestProblem, tokenMatches } from '@octoserve/wire';
import type { RegisterReply, RegisterRequest__Output, RegistryHandlers } from '@octoserve/wire';

/** A fresh cluster token: 32 random bytes, base64url (43 characters). */
export function newClusterToken(): string {
  return randomBytes(32).toString('base64url');
}

export interface Registration {
  rank: number;
  address: string;            // Worker service
  collectiveAddress: string;
  pid: number;
  host: string;
  device: string;
}

export class Registry {
  private readonly ranks: (Registration | undefined)[];
  private waiters: { resolve: (r: Registration[]) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }[] = [];

  constructor(readonly worldSize: number, private readonly clusterToken = '', private readonly log: (line: string) => void = () => {}) {
    this.ranks = new Array<Registration | undefined>(worldSize).fill(undefined);
  }

  private register(req: RegisterRequest__Output): RegisterReply {
    const refuse = (message: string): RegisterReply => { this.log(`registry: refused ${req.host}:${req.pid}: ${message}`); return { accepted: false, message }; };
    const tokenProblem = this.checkToken(req.clusterToken);
    if (tokenProblem !== undefined) return refuse(tokenProblem);
    if (req.worldSize !== this.worldSize) return refuse(`world size ${req.worldSize} differs from the coordinator's ${this.worldSize}`);
    if (req.rank >= this.worldSize) return refuse(`rank ${req.rank} is outside 0..${this.worldSize - 1}`);
    const prev = this.ranks[req.rank];
    if (prev !== undefined && (prev.pid !== req.pid || prev.host !== req.host)) return refuse(`rank ${req.rank} is already held by pid ${prev.pid} on ${prev.host}`);
    this.ranks[req.rank] = { rank: req.rank, address: req.address, collectiveAddress: req.collectiveAddress, pid: req.pid, host: req.host, device: req.device };
    this.log(`registry: rank ${req.rank} joined from ${req.address} (pid ${req.pid}, ${req.device})`);
    this.settle();
    return { accepted: true, message: '' };
  }

  /**
   * Why a worker's token keeps it out, or undefined. A worker with a token joining a coordinator
   * without one is refused too: it would refuse every call the coordinator then makes to it.
   */
  private checkToken(given: string): string | undefined {
    if (this.clusterToken === '') {
      return given === '' ? undefined : 'the worker has a cluster token but this coordinator has none: start both with the same token';
    }
    if (tokenMatches(this.clusterToken, given)) return undefined;
    return `this coordinator belongs to another cluster: missing or wrong cluster token (the worker sent ${given === '' ? 'none' : 'a different one'}); ` +
      'give the worker the coordinator\'s token (--cluster-token-file or OCTOSERVE_CLUSTER_TOKEN)';
  }

  private settle(): void {
    if (this.ranks.some((r) => r === undefined)) return;
    const all = this.ranks as Registration[];
    for (const w of this.waiters) { clearTimeout(w.timer); w.resolve(all); }
    this.waiters = [];
  }

  /** Forgets a rank (it died); it may register again. */
  forget(rank: number): void {
    this.ranks[rank] = undefined;
  }

  /** Resolves with every rank's registration, or rejects after `timeoutMs` naming the missing ranks. */
  waitForAll(timeoutMs: number): Promise<Registration[]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.timer !== timer);
        const missing = this.ranks.flatMap((r, i) => (r === undefined ? [i] : []));
        reject(new Error(`workers did not register within ${timeoutMs / 1000} s: missing rank(s) ${missing.join(', ')} of ${this.worldSize}`));
      }, timeoutMs);
      this.waiters.push({ resolve, reject, timer });
      this.settle();
    });
  }

  handlers(): RegistryHandlers {
    return {
      Register: (call: grpc.ServerUnaryCall<RegisterRequest__Output, RegisterReply>, cb: grpc.sendUnaryData<RegisterReply>) => {
        const problem = requestProblem(call.request);
        if (problem !== undefined) cb({ code: grpc.status.INVALID_ARGUMENT, details: limitDetails(problem) });
        else cb(null, this.register(call.request));
      },
    };
  }
}
