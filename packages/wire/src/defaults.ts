// Names and numbers both sides of a contract must agree on: the metadata keys internal calls
// carry, and the defaults a request falls back to when a field is left out.

/** Metadata of the coordinator's step stream: the communicator it steps (a worker's lifeline). */
export const COMMUNICATOR_METADATA = 'x-octoserve-communicator';

/** Sequences (KV caches) a worker holds at once unless LoadShard says otherwise; `launch --max-sequences`'s default. */
export const DEFAULT_MAX_SEQUENCES = 8;

/** The most tokens one step request may have the ranks choose (StepRequest.greedy_tokens). */
export const MAX_GREEDY_TOKENS = 256;
