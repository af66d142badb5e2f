// The Admin service: what the cluster is and does (per rank and per queue), and taking this
// coordinator in and out of service.
import type {
  AdminHandlers, ClusterStatusReply, ClusterStatusRequest__Output, DrainReply, DrainRequest__Output, ResumeReply, ResumeRequest__Output,
  ShutdownReply, ShutdownRequest__Output,
} from '@octoserve/wire';
import * as grpc from '@grpc/grpc-js';
import { tokenMatches } from '@octoserve/wire';
import { unary } from './rpc-errors.js';
import { checkDecoded, RpcError } from '@octoserve/wire';

/** What the Admin service needs of the coordinator it runs in. */
export interface Administered {
  status(): Promise<ClusterStatusReply>;
  drain(wait: boolean, timeoutMs: number): Promise<DrainReply>;
  resume(): ResumeReply;
  /** Drains, answers, then stops the process's cluster. */
  shutdown(): Promise<void>;
}

const DEFAULT_DRAIN_TIMEOUT_MS = 600_000;

/** Refuses a call that does not carry `authorization: Bearer <token>` (compared in constant time). */
function requireToken(token: string, hint: string): (call: grpc.ServerUnaryCall<unknown, unknown>) => void {
  return (call) => {
    const given = String(call.metadata.get('authorization')[0] ?? '');
    const m = /^Bearer (.+)$/.exec(given);
    if (m === null || !tokenMatches(token, m[1])) {
      throw new RpcError(grpc.status.UNAUTHENTICATED, `admin calls need the admin token (${m === null ? 'none was sent' : 'the one sent is wrong'}): ${hint}`);
    }
  };
}

/** The Admin service; every call must carry `adminToken` (`hint` says where a person finds it). */
export function adminHandlers(coordinator: Administered, adminToken: string, hint: string): AdminHandlers {
  const check = requireToken(adminToken, hint);
  const guarded = <Req, Res>(body: (req: Req) => Promise<Res>) => unary<Req, Res>((req, call) => {
    check(call as grpc.ServerUnaryCall<unknown, unknown>);
    checkDecoded(req as object);
    return body(req);
  });
  return {
    ClusterStatus: guarded<ClusterStatusRequest__Output, ClusterStatusReply>(() => coordinator.status()),
    Drain: guarded<DrainRequest__Output, DrainReply>((req) => coordinator.drain(req.wait, req.timeoutMs === 0 ? DEFAULT_DRAIN_TIMEOUT_MS : req.timeoutMs)),
    Resume: guarded<ResumeRequest__Output, ResumeReply>(() => Promise.resolve(coordinator.resume())),
    Shutdown: guarded<ShutdownRequest__Output, ShutdownReply>(async () => {
      await coordinator.shutdown();
      return {};
    }),
  };
}
