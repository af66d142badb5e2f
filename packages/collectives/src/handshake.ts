// The HELLO checks of world formation, as pure functions: a mismatch is
// refused with a message that names both values and both ranks.
import type { Hello } from './frame-codec.js';
import { PROTOCOL_VERSION } from './frame-codec.js';

/** What this rank knows about itself. */
export interface Identity {
  communicatorId: string;
  worldSize: number;
  rank: number;
  address: string;
}

export function helloFrom(me: Identity, peerRank: number): Hello {
  return {
    communicatorId: me.communicatorId, worldSize: me.worldSize, rank: me.rank,
    peerRank, address: me.address, protocolVersion: PROTOCOL_VERSION,
  };
}

function who(h: Hello): string {
  return `rank ${h.rank} at ${h.address || 'an unknown address'}`;
}

function self(me: Identity): string {
  return `this rank (rank ${me.rank} at ${me.address})`;
}

/** Checks a HELLO that arrived on this rank's server; returns the refusal message or undefined. */
export function checkIncomingHello(me: Identity, h: Hello): string | undefined {
  if (h.protocolVersion !== PROTOCOL_VERSION) {
    return `${who(h)} speaks collective protocol ${h.protocolVersion}, ${self(me)} speaks ${PROTOCOL_VERSION}`;
  }
  if (h.communicatorId !== me.communicatorId) {
    return `${who(h)} belongs to communicator '${h.communicatorId}', ${self(me)} to '${me.communicatorId}'`;
  }
  if (h.worldSize !== me.worldSize) {
    return `${who(h)} has world size ${h.worldSize}, ${self(me)} has world size ${me.worldSize} (communicator '${me.communicatorId}')`;
  }
  if (h.rank >= me.worldSize || h.rank === me.rank) {
    return `${who(h)} claims rank ${h.rank}, which is ${h.rank === me.rank ? 'this rank' : `outside 0..${me.worldSize - 1}`}`;
  }
  if (h.peerRank !== me.rank) {
    return `${who(h)} dialed ${me.address} expecting rank ${h.peerRank}, but ${self(me)} is rank ${me.rank}: the peer address lists differ`;
  }
  return undefined;
}

/** Checks the HELLO a peer answered with; returns the failure message or undefined. */
export function checkHelloReply(me: Identity, expectedRank: number, dialed: string, h: Hello): string | undefined {
  if (h.communicatorId !== me.communicatorId) {
    return `${dialed} answered for communicator '${h.communicatorId}', ${self(me)} belongs to '${me.communicatorId}'`;
  }
  if (h.worldSize !== me.worldSize) {
    return `${dialed} answered with world size ${h.worldSize}, ${self(me)} has world size ${me.worldSize}`;
  }
  if (h.rank !== expectedRank) {
    return `${dialed} answered as rank ${h.rank}, ${self(me)} expected rank ${expectedRank} there: the peer address lists differ`;
  }
  return undefined;
}
