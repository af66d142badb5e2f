// How long a rank that waits for a peer's frame keeps polling before it sleeps.
//
// A rank that has sent its part of an all-reduce and waits for a peer's normally returns to
// the event loop, which blocks in epoll; the peer's frame then has to wake it (and its core,
// when idle). On the reference machine (2 cores, loopback) a 3 KiB ping-pong between two Node
// processes took 57 us round trip (Unix socket; 76 over TCP) that way, and 12 us when each side
// kept the loop turning (setImmediate, so each turn polls with a zero timeout) while it waited.
// Decoding the stories110M shape at tp=2 (q4a8, 3 prompts x 128 tokens, medians of 3 rounds of
// `bench decode --spin-us 0,30,100,300`) the step p50 went 9.89 -> 8.82 (30 us) -> 7.85 (100) ->
// 7.45 ms (300), tok/s 84.1 -> 96.6. A spinning rank holds its core,
// though: with more ranks than cores it takes the time the rank it waits for needs (tp=4 on
// 2 cores, q4: 40 tok/s without, 26 with a 300 us spin). So 'auto' spins only
// when the world fits in this host's cores, and bounds each wait's spin; after it the rank
// sleeps as before; operations above SPIN_MAX_BYTES do not spin at all. MPI's and NCCL's
// busy-polling make the same trade. The bound: a rank that sleeps also computes its next
// segment on a cold core (a call after idle time costs more, see the worker's compute probe),
// so it pays to outwait a slow peer, not only a fast one. stories110M shape, tp=2, q4a8, 2 x 256
// tokens, medians of 3 interleaved rounds of `bench decode --spin-us 300,2000,10000`: 63.0, 63.6,
// 71.1 tok/s (a step link polls for the next step as long, up to 1 ms: step-channels.ts in the worker).
import { availableParallelism } from 'node:os';
import { CollectiveError } from './errors.js';

/** The environment variable that sets the spin (µs, or 'auto') where no option does. */
export const SPIN_ENV = 'OCTOSERVE_SPIN_US';
/** The spin of 'auto' when the world fits in the cores, µs. */
export const DEFAULT_SPIN_US = 10_000;
/**
 * Operations above this many bytes never spin: their waits are longer, and a spinning rank takes
 * CPU that the copies and a third process on the host need. 2 ranks, 2 cores, p50 of 3 rounds,
 * without / with a 300 us spin: 1 KiB 66 / 20 us, 4 KiB 50 / 19-22, but 16 KiB 78 / 41-65 in
 * some rounds and 395-695 in others, 64 KiB (ring) 207 / 185-753.
 */
export const SPIN_MAX_BYTES = 8 * 1024;
/** The most a wait may spin, µs (beyond this a rank would rather sleep). */
export const MAX_SPIN_US = 100_000;

/** A spin setting: microseconds, or 'auto'. */
export type SpinSetting = number | 'auto';

/** Reads a spin setting ('auto' or whole microseconds 0..MAX_SPIN_US); `what` names where it came from. */
export function parseSpin(value: string, what: string): SpinSetting {
  const v = value.trim();
  if (v === 'auto') return 'auto';
  const n = Number(v);
  if (v === '' || !Number.isInteger(n) || n < 0 || n > MAX_SPIN_US) {
    throw new CollectiveError('INVALID_ARGUMENT', `${what} takes 'auto' or whole microseconds 0..${MAX_SPIN_US}, got '${value}'`);
  }
  return n;
}

/** The spin of each wait, µs: the setting (else $OCTOSERVE_SPIN_US, else 'auto') made concrete for this world and host. */
export function resolveSpinUs(setting: SpinSetting | undefined, worldSize: number, cores = availableParallelism()): number {
  const env = process.env[SPIN_ENV];
  const s = setting ?? (env === undefined || env === '' ? 'auto' : parseSpin(env, SPIN_ENV));
  if (s !== 'auto') return s;
  return worldSize > 1 && worldSize <= cores ? DEFAULT_SPIN_US : 0;
}

/** The environment variable that sets the yield phase of a wait on the shm fabric's counter, µs. */
export const YIELD_ENV = 'OCTOSERVE_SHM_YIELD_US';
/**
 * How long a wait at the shm fabric's counter that does not spin (more ranks than cores) keeps
 * looking, giving its core to any runnable process between looks, before it sleeps. A sleeper
 * costs a wakeup (the last rank to arrive wakes all); one that yields is already running when the
 * count is reached. stories110M shape, tp=4, q4a8, 128 tokens, two runs each: 0 us 77.5 / 75.7
 * tok/s, 200 us 87.4 / 97.4, 1000 us 87.9 / 98.9.
 */
export const DEFAULT_YIELD_US = 500;

/**
 * The yield phase of a shared-memory wait, µs: none for a rank that spins (`spinUs` > 0), else
 * $OCTOSERVE_SHM_YIELD_US (whole µs, or 'auto') or DEFAULT_YIELD_US.
 */
export function resolveYieldUs(spinUs: number): number {
  if (spinUs > 0) return 0;
  const env = process.env[YIELD_ENV];
  const s = env === undefined || env === '' ? 'auto' : parseSpin(env, YIELD_ENV);
  return s === 'auto' ? DEFAULT_YIELD_US : s;
}

/**
 * Keeps the event loop polling while a receive waits, for at most a bound per wait. Made once per
 * waiter; a wait allocates nothing here. Each turn is one setImmediate, whose Immediate object
 * Node allocates: there is no other way for JavaScript to let libuv poll without blocking.
 */
export class WaitSpin {
  private until = 0;
  private running = false;

  constructor(private readonly waiting: () => boolean) {}

  /** Polls until the wait ends or `spinUs` have passed (0: not at all). */
  start(spinUs: number): void {
    if (spinUs <= 0) return;
    this.until = performance.now() + spinUs / 1000;
    if (this.running) return;
    this.running = true;
    setImmediate(this.turn);
  }

  private readonly turn = (): void => {
    if (this.waiting() && performance.now() < this.until) setImmediate(this.turn);
    else this.running = false;
  };
}
