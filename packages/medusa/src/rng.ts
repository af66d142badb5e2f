// The uniforms Medusa's typical acceptance draws, one stream per seed: the reference engine's
// seeded generator (@octoserve/model's Rng, xorshift32 on a hashed seed), as a function.
import { Rng } from '@octoserve/model';

/** Uniform numbers in [0, 1) from `seed`; the same seed gives the same sequence. */
export function createRng(seed: number): () => number {
  const rng = new Rng(seed, 'medusa');
  return () => rng.nextFloat();
}
