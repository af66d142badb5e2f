// What the mesh needs of a fabric, whichever carries the bytes: an endpoint
// that accepts links from peers (on which this rank sends) and dials links
// to peers (on which they send to this rank). A link moves whole frames
// (frame-codec.ts) in order; refusals and breaks are reported with the gRPC
// status codes, which both fabrics use as their vocabulary.
import { CollectiveError } from './errors.js';
import type { TransportSecurity } from './auth.js';

/** Status codes of refusals and broken links (the gRPC numbers, so messages read the same on both fabrics). */
export const LinkStatus = {
  OK: 0,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  ALREADY_EXISTS: 6,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

const STATUS_NAMES: Record<number, string> = Object.fromEntries(Object.entries(LinkStatus).map(([k, v]) => [v, k]));

/** A status as text ("UNAVAILABLE: connection dropped"). */
export function linkStatusText(code: number, details: string): string {
  const name = STATUS_NAMES[code];
  return name === undefined ? `status ${code}: ${details}` : `${name}: ${details}`;
}

/** How an accepted link reports to the mesh. */
export interface AcceptedLinkHandlers {
  /** One frame the peer sent on the link (HELLO first, then control frames). */
  onMessage(frame: Buffer): void;
  /** The link broke or the peer dropped it; `what` says which, `reason` why. */
  onLost(what: 'dropped' | 'broke', reason: string | undefined): void;
}

/** A link a peer opened on this rank's endpoint: this rank sends its frames to that peer on it. */
export interface AcceptedLink {
  /** Starts delivering the peer's frames (once, right after the endpoint hands the link over). */
  listen(handlers: AcceptedLinkHandlers): void;
  /**
   * Queues one frame; the buffer must not change until `written` runs, once the link no longer
   * reads it (a link that cannot tell never runs it: the buffer must then never change).
   */
  write(frame: Buffer, written?: () => void): void;
  /** Ends this rank's side after what was queued. */
  end(): void;
  readonly writableEnded: boolean;
  /** Ends the link with a status the dialer reports. */
  refuse(code: number, details: string): void;
}

/** How a dialed link reports to the mesh. */
export interface DialedLinkHandlers {
  /** One frame from the peer (its bytes are the mesh's to keep). */
  onMessage(frame: Buffer): void;
  /** The link ended: OK when the peer ended it cleanly, a refusal or failure status otherwise. */
  onStatus(code: number, details: string): void;
}

/** A link this rank opened on a peer's endpoint: the peer sends to this rank on it. */
export interface DialedLink {
  /** Queues one frame to the peer (sent once connected; the buffer must not change). */
  write(frame: Buffer): void;
  /** Closes the link; nothing is reported after this. */
  drop(): void;
  /** Why the last unanswered attempt failed, for a formation timeout. */
  readonly lastFailure: string | undefined;
}

/** One fabric's listening side and dialer, behind an Endpoint. */
export interface LinkListener {
  readonly address: string;
  serve(handler: (link: AcceptedLink) => void): void;
  dial(address: string, handlers: DialedLinkHandlers, security: TransportSecurity): DialedLink;
  close(): void;
}

/**
 * The links that reach a listener before a communicator takes it (peers may be faster), then
 * every later one, handed to the one communicator the endpoint serves.
 */
export class LinkInbox {
  private handler: ((link: AcceptedLink) => void) | undefined;
  private pending: AcceptedLink[] = [];

  /** Routes every link, the early ones first, to `handler`; `where` names the endpoint in the error for a second one. */
  serve(handler: (link: AcceptedLink) => void, where: string): void {
    if (this.handler !== undefined) throw new CollectiveError('INVALID_ARGUMENT', `endpoint ${where} already serves a communicator`);
    this.handler = handler;
    const early = this.pending;
    this.pending = [];
    for (const link of early) handler(link);
  }

  offer(link: AcceptedLink): void {
    if (this.handler === undefined) this.pending.push(link);
    else this.handler(link);
  }
}

