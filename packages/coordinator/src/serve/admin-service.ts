// The Admin service: what the cluster is and does (per rank and per queue), and taking this
// coordinator in and out of service.
import type {
  AdminHandlers, ClusterStatusReply, ClusterStatusRequest__Output, DrainReply, DrainRequest__Output, ResumeReply, ResumeRequest__Output,
  ShutdownReply, ShutdownRequest__Output,
} from '@octoserve/wire';
import { unary } from './grpc-errors.js';

/** What the Admin service needs of the coordinator it runs in. */
export interface Administered {
  status(): Promise<ClusterStatusReply>;
  drain(wait: boolean, timeoutMs: number): Promise<DrainReply>;
  resume(): ResumeReply;
  /** Drains, answers, then stops the process's cluster. */
  shutdown(): Promise<void>;
}

const DEFAULT_DRAIN_TIMEOUT_MS = 600_000;

export function adminHandlers(coordinator: Administered): AdminHandlers {
  return {
    ClusterStatus: unary<ClusterStatusRequest__Output, ClusterStatusReply>(() => coordinator.status()),
    Drain: unary<DrainRequest__Output, DrainReply>((req) => coordinator.drain(req.wait, req.timeoutMs === 0 ? DEFAULT_DRAIN_TIMEOUT_MS : req.timeoutMs)),
    Resume: unary<ResumeRequest__Output, ResumeReply>(() => Promise.resolve(coordinator.resume())),
    Shutdown: unary<ShutdownRequest__Output, ShutdownReply>(async () => {
      await coordinator.shutdown();
      return {};
    }),
  };
}
