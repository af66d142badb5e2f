// The coordinator's step channels into a worker: the gRPC Steps stream and, on the socket fabric,
// the step link. Both run their steps one at a time in arrival order, answer each with its reply,
// end at the first failed step with its status, and are the worker's lifeline: when the channel of
// its communicator ends, the cluster it served is gone.
import * as grpc from '@grpc/grpc-js';
import { WaitSpin, type AcceptedLink } from '@octoserve/collectives';
import { checkDecoded, COMMUNICATOR_METADATA, RpcError, workerServices } from '@octoserve/wire';
import type { StepReply, StepRequest__Output } from '@octoserve/wire';

/** What a step channel needs of its worker. */
export interface StepHost {
  rank: number;
  /** The communicator this worker serves (undefined before InitCommunicator). */
  communicatorId: string | undefined;
  step(req: StepRequest__Output): Promise<StepReply>;
  /** How long a wait for a peer polls before it sleeps, µs (the communicator's spin; 0 before there is one). */
  readonly spinUs: number;
  /** The status a failed step ends its channel with. */
  statusOf(err: unknown): RpcError;
  log(line: string): void;
  /** The channel of this worker's communicator ended. */
  lost(why: string): void;
}

/**
 * The most a step link polls for the next step, µs. Within a step a rank waits for a peer that is
 * computing; between steps it waits for the coordinator, which may be serving other work (and on a
 * small host needs the core): 1 ms covers a round trip here (stories110M shape, tp=2: 1.2-1.5 ms)
 * without holding a core through an idle cluster's gaps.
 */
const STEP_SPIN_MAX_US = 1_000;

/** One channel's steps, run one at a time in arrival order; none runs after the first that fails. */
class StepQueue {
  private chain = Promise.resolve();
  failed = false;
  /** Steps pushed and not yet answered (or failed). */
  pending = 0;

  constructor(private readonly host: StepHost, private readonly answer: (reply: StepReply) => void, private readonly fail: (status: RpcError) => void) {}

  /** Queues the step `request` decodes (a request that does not decode fails like a step). */
  push(request: () => StepRequest__Output): void {
    this.pending++;
    this.chain = this.chain.then(async () => {
      if (this.failed) return;
      let stepId = 0;
      try {
        const req = checkDecoded(request());
        stepId = req.stepId;
        const reply = await this.host.step(req);
        this.pending--;
        this.answer(reply);
      } catch (err) {
        this.failed = true;
        this.host.log(`rank ${this.host.rank}: step ${stepId} failed: ${err instanceof Error ? err.message : String(err)}`);
        this.fail(this.host.statusOf(err));
      }
    });
  }

  /** Runs `then` once the queued steps are done. */
  drained(then: () => void): void {
    void this.chain.then(then);
  }
}

/** Reports the host's loss once, however many ways its channel ends. */
function lifeline(host: StepHost): (why: string) => void {
  let lost = false;
  return (why) => {
    if (!lost) { lost = true; host.lost(why); }
  };
}

/** The Steps stream: a stream that names this worker's communicator in its metadata is its lifeline. */
export function serveStepStream(host: StepHost, call: grpc.ServerDuplexStream<StepRequest__Output, StepReply>): void {
  if (host.communicatorId !== undefined && String(call.metadata.get(COMMUNICATOR_METADATA)[0] ?? '') === host.communicatorId) {
    const gone = lifeline(host);
    call.on('end', () => gone('the coordinator closed its step stream'));
    call.on('cancelled', () => gone('the coordinator\'s step stream was cancelled'));
    call.on('error', () => gone('the coordinator\'s step stream failed'));
  }
  // a failed step: grpc-js ends the call with the emitted status
  const queue = new StepQueue(host, (reply) => call.write(reply), (status) => call.emit('error', status.toStatus()));
  call.on('data', (req: StepRequest__Output) => queue.push(() => req));
  call.on('end', () => queue.drained(() => { if (!queue.failed) call.end(); }));
  call.on('error', () => { queue.failed = true; });
}

/** A step link's record as a StepRequest; bytes that do not decode are INVALID_ARGUMENT, as on the Steps stream. */
function decodeStepRecord(deserialize: (bytes: Buffer) => unknown, frame: Buffer): StepRequest__Output {
  try {
    return deserialize(frame) as StepRequest__Output;
  } catch (err) {
    throw new RpcError(grpc.status.INVALID_ARGUMENT, `a step link record that is not a StepRequest (${err instanceof Error ? err.message : String(err)})`);
  }
}

/**
 * The step link: its first record names the communicator (the link is then this worker's
 * lifeline), each later one is a StepRequest answered by a StepReply in order; a failed step
 * refuses the link with its status, as the stream ends with it. After a reply, with no step
 * queued, the link polls for the next one for the communicator's spin, up to STEP_SPIN_MAX_US (wait-spin.ts in
 * @octoserve/collectives): a rank that sleeps between steps starts the next one on a cold core,
 * as it would start an all-reduce's second half after a sleep.
 */
export function serveStepLink(host: StepHost, link: AcceptedLink): void {
  const { requestDeserialize, responseSerialize } = workerServices().Worker.service.Steps;
  const gone = lifeline(host);
  let opened = false;
  let named = false;   // the first record named this worker's communicator
  const ended = (why: string): void => { if (named) gone(why); };
  const refuse = (status: RpcError): void => {
    queue.failed = true;
    link.refuse(status.code, status.message);
    ended(`a step failed (${status.message})`);
  };
  const queue = new StepQueue(host, (reply) => {
    link.write(responseSerialize(reply));
    if (queue.pending === 0) nextStep.start(Math.min(host.spinUs, STEP_SPIN_MAX_US));
  }, refuse);
  const nextStep = new WaitSpin(() => queue.pending === 0 && !queue.failed);
  link.listen({
    onMessage: (frame) => {
      if (queue.failed) return;
      if (opened) { queue.push(() => decodeStepRecord(requestDeserialize, frame)); return; }
      opened = true;
      const id = frame.toString('utf8');
      if (host.communicatorId !== undefined && id === host.communicatorId) named = true;
      else refuse(new RpcError(grpc.status.FAILED_PRECONDITION, `rank ${host.rank} serves communicator ${host.communicatorId ?? '(none yet)'}; the step link names ${id.slice(0, 100)}`));
    },
    onLost: (what, reason) => {
      queue.failed = true;
      ended(what === 'dropped' ? 'the coordinator closed its step link' : `the coordinator's step link broke (${reason ?? 'no reason given'})`);
    },
  });
}
