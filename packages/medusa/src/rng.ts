// A tiny seeded uniform generator, so sampling is reproducible from a seed.

/** Finalizer that spreads every seed bit over the whole 32-bit word. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/**
 * Uniform numbers in [0, 1) from a 32-bit seed: Marsaglia's xorshift32
 * (shifts 13, 17, 5; period 2^32 - 1) on a mixed seed. Good enough for
 * drawing one uniform per decode step; not for cryptography.
 */
export function createRng(seed: number): () => number {
  let state = mix32(seed >>> 0) || 1; // xorshift's state must never be 0
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return (state - 1) / 4294967295; // state in [1, 2^32 - 1] -> [0, 1)
  };
}
