// A small seeded PRNG (xorshift32 seeded through a 32-bit mixer), so runs are reproducible.

/** Mixes a number (any safe integer) or a string into a non-zero 32-bit state. */
export function hashSeed(seed: number | string, salt = ''): number {
  // FNV-1a over the text of the seed, then a murmur-style finalizer
  const text = `${seed}\u0000${salt}`;
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h === 0 ? 0x9e3779b9 : h >>> 0;
}

export class Rng {
  private state: number;

  constructor(seed: number | string, salt = '') {
    this.state = hashSeed(seed, salt);
  }

  /** Uniform 32-bit unsigned integer (Marsaglia xorshift32). */
  nextU32(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state;
  }

  /** Uniform in [0, 1) with 24 random bits (exact in float32). */
  nextFloat(): number {
    return (this.nextU32() >>> 8) / 16777216;
  }
}
