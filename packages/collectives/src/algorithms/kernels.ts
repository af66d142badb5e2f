// Small helpers shared by the algorithms: the float32 add kernel and rank lists.

/** dst[at, at+n) += src[from, from+n), float32 adds (a tight loop, no allocation). */
export function addInto(dst: Float32Array, at: number, src: Float32Array, from: number, n: number): void {
  for (let i = 0; i < n; i++) dst[at + i] = (dst[at + i] as number) + (src[from + i] as number);
}

/** Every rank but `rank`, in rank order. */
export function otherRanks(rank: number, worldSize: number): number[] {
  const out: number[] = [];
  for (let p = 0; p < worldSize; p++) if (p !== rank) out.push(p);
  return out;
}
