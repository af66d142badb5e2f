// How a vector of `length` elements is cut into `parts` contiguous blocks (one
// per rank) and how a block is cut into chunks (frames). Every rank computes
// the same cuts, so a receiver knows each frame's offset and count in advance.

/** First element of block `b` of `parts` over `length` elements; block b is [blockStart(b), blockStart(b+1)). */
export function blockStart(length: number, parts: number, b: number): number {
  return Math.floor((length * b) / parts);
}

/** Element count of block `b` (blocks differ by at most one element). */
export function blockLength(length: number, parts: number, b: number): number {
  return blockStart(length, parts, b + 1) - blockStart(length, parts, b);
}

/**
 * Number of frames that carry a message of `n` elements, at most `chunkElems`
 * each. An empty message is still one (empty) frame, so every message is seen.
 */
export function chunkCount(n: number, chunkElems: number): number {
  return n === 0 ? 1 : Math.ceil(n / chunkElems);
}

/** Positive modulo: mod(-1, 8) = 7. */
export function mod(a: number, n: number): number {
  return ((a % n) + n) % n;
}
