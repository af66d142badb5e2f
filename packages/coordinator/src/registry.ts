// The Registry service: workers announce themselves; the coordinator waits until all ranks have.
import * as grpc from '@grpc/grpc-js';
import type { RegisterReply, RegisterRequest__Output, RegistryHandlers } from '@octoserve/wire';

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
    if (this.clusterToken !== '' && req.clusterToken !== this.clusterToken) return refuse('wrong cluster token');
    if (req.worldSize !== this.worldSize) return refuse(`world size ${req.worldSize} differs from the coordinator's ${this.worldSize}`);
    if (req.rank >= this.worldSize) return refuse(`rank ${req.rank} is outside 0..${this.worldSize - 1}`);
    const prev = this.ranks[req.rank];
    if (prev !== undefined && (prev.pid !== req.pid || prev.host !== req.host)) return refuse(`rank ${req.rank} is already held by pid ${prev.pid} on ${prev.host}`);
    this.ranks[req.rank] = { rank: req.rank, address: req.address, collectiveAddress: req.collectiveAddress, pid: req.pid, host: req.host, device: req.device };
    this.log(`registry: rank ${req.rank} joined from ${req.address} (pid ${req.pid}, ${req.device})`);
    this.settle();
    return { accepted: true, message: '' };
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
      Register: (call: grpc.ServerUnaryCall<RegisterRequest__Output, RegisterReply>, cb: grpc.sendUnaryData<RegisterReply>) => cb(null, this.register(call.request)),
    };
  }
}
