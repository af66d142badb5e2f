// Seeded fuzz inputs: a PRNG, protobuf and CollectiveFrames by hand, and each case made from a corpus.

export const SEED = Number(process.env.OCTOSERVE_FUZZ_SEED ?? 20261127);

/** mulberry32: a 32-bit state, uniform doubles in [0, 1). */
export class Rand {
  private s: number;
  constructor(seed: number) { this.s = seed >>> 0; }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number { return Math.floor(this.next() * n); }
  pick<T>(xs: readonly T[]): T { return xs[this.int(xs.length)] as T; }
  bytes(n: number): Buffer { return Buffer.from(Array.from({ length: n }, () => this.int(256))); }
}

/** Each endpoint its own stream of inputs, from SEED and its name (FNV-1a). */
export function seedFor(endpoint: string): number {
  let h = 2166136261 ^ SEED;
  for (let i = 0; i < endpoint.length; i++) h = Math.imul(h ^ endpoint.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** Protobuf by hand, for encodings a serializer never writes: any varint width, wrong wire types, fields in any order. */
export const pb = {
  varint(v: bigint): Buffer {
    let x = BigInt.asUintN(64, v);
    const out: number[] = [];
    for (; x >= 0x80n; x >>= 7n) out.push(Number(x & 0x7fn) | 0x80);
    out.push(Number(x));
    return Buffer.from(out);
  },
  key: (field: number, wireType: number): Buffer => pb.varint((BigInt(field) << 3n) | BigInt(wireType)),
  uint: (field: number, v: number | bigint): Buffer => Buffer.concat([pb.key(field, 0), pb.varint(BigInt(v))]),
  len(field: number, body: Buffer | string): Buffer {
    const b = typeof body === 'string' ? Buffer.from(body) : body;
    return Buffer.concat([pb.key(field, 2), pb.varint(BigInt(b.length)), b]);
  },
  fixed32(field: number, v: number): Buffer { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); return Buffer.concat([pb.key(field, 5), b]); },
  float(field: number, v: number): Buffer { const b = Buffer.alloc(4); b.writeFloatLE(v); return Buffer.concat([pb.key(field, 5), b]); },
  fixed64(field: number, v: bigint): Buffer { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt.asUintN(64, v)); return Buffer.concat([pb.key(field, 1), b]); },
};
export const cat = (...parts: Buffer[]): Buffer => Buffer.concat(parts);

/** Extremes every message type gets: bad wire types, truncations, deep groups, huge unknown fields. */
export const SHAPELESS: Buffer[] = [
  Buffer.alloc(0), Buffer.from([0x80]), Buffer.from([0x08]), Buffer.from([0x0f]), Buffer.from([0x0b]), Buffer.from([0x0c]),
  Buffer.alloc(11, 0xff), Buffer.from([0x0a, 0x05, 0x61]), Buffer.alloc(100_000, 0x0b), pb.len(536_870_911, Buffer.alloc(300_000, 0x5a)),
  cat(pb.uint(1, 1n << 63n), pb.fixed64(2, -1n), pb.fixed32(3, 0xffffffff)),
];

export type CaseKind = 'random' | 'truncated' | 'corrupted' | 'extreme';
export const KINDS: readonly CaseKind[] = ['random', 'truncated', 'corrupted', 'extreme'];

export interface Corpus {
  valid: Buffer[];
  /** Taken in turn, so each one is sent. */
  extreme: Buffer[];
}

function corrupt(r: Rand, v: Buffer): Buffer {
  const b = [...v];
  for (let n = 1 + r.int(4); n > 0; n--) {
    const at = r.int(b.length + 1);
    const op = r.int(4);
    if (op === 0 && at < b.length) b[at] = (b[at] as number) ^ (1 + r.int(255));
    else if (op === 1) b.splice(at, 0, r.int(256));
    else if (op === 2) b.splice(at, 1);
    else if (at < b.length) b[at] = r.pick([0x00, 0x7f, 0x80, 0xff]);
  }
  return Buffer.from(b);
}

/** Case `i` of a corpus: the four kinds in turn. */
export function makeCase(r: Rand, c: Corpus, i: number): Buffer {
  const kind = KINDS[i % KINDS.length] as CaseKind;
  if (kind === 'random') return r.bytes(r.int(513));
  if (kind === 'extreme') return c.extreme[Math.floor(i / KINDS.length) % c.extreme.length] as Buffer;
  const v = r.pick(c.valid);
  return kind === 'truncated' ? v.subarray(0, r.int(v.length)) : corrupt(r, v);
}

export const EMPTY_MESSAGE: Corpus = { valid: [Buffer.alloc(0), pb.uint(7, 1), pb.len(99, 'unknown field')], extreme: SHAPELESS };

/** A CollectiveFrame (collective.proto) by hand. */
export const frame = {
  hello: (id: string, worldSize: number | bigint, rank: number | bigint, peerRank: number | bigint, version = 1): Buffer =>
    cat(pb.uint(1, 2), pb.len(16, cat(pb.len(1, id), pb.uint(2, worldSize), pb.uint(3, rank), pb.uint(4, peerRank), pb.len(5, '127.0.0.1:1'), pb.uint(6, version)))),
  data: (seq: bigint, count: number, payload: Buffer): Buffer => cat(pb.uint(1, 1), pb.fixed64(2, seq), pb.fixed32(3, 0), pb.uint(4, 4), pb.fixed32(5, 0),
    pb.fixed32(6, 0), pb.fixed32(7, count), pb.uint(8, 1), pb.fixed32(9, count), pb.len(14, Buffer.alloc(2)), pb.len(15, payload)),
  abort: (reason: string): Buffer => cat(pb.uint(1, 3), pb.len(17, cat(pb.uint(1, 0), pb.len(2, reason)))),
  goodbye: (seq: bigint): Buffer => cat(pb.uint(1, 4), pb.fixed64(2, seq)),
};
