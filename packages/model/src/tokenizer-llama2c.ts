// llama2.c tokenizer files (tokenizer.bin, tok512.bin) with run.c's encode and decode.
//
// File layout (little-endian): int32 max_token_length, then for each token id in order
// float32 score, int32 len, len raw bytes (UTF-8, no NUL). The token count is not stored:
// run.c takes it from the model's vocab_size.
//
// Differences from run.c:
// - merges use a priority queue instead of rescanning every pair after each merge. The
//   rule is the same (highest score wins, the leftmost pair wins a tie, a score must beat
//   -1e10), so the ids are the same; encoding is O(n log n) instead of O(n^2).
// - a NUL in the text is encoded as its byte token (run.c stops reading at it), and a
//   vocabulary without a " " piece gets no dummy prefix (run.c would emit id -1).
import { TokenizerError, type EncodeOptions, type Tokenizer } from './tokenizer.js';

/** run.c hard-codes these ids. */
export const LLAMA2C_BOS_ID = 1;
export const LLAMA2C_EOS_ID = 2;
/** Byte b is token b + 3 (`<0x00>` is id 3). */
const BYTE_TOKEN_OFFSET = 3;
/** run.c starts its best score here, so a pair scoring at or below it never merges. */
const MIN_MERGE_SCORE = -1e10;
const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();

export interface Llama2cVocab {
  readonly maxTokenLength: number;
  /** pieces[id]: the raw bytes of the piece (SentencePiece `▁` already a plain space). */
  readonly pieces: readonly Uint8Array[];
  /** scores[id]: the merge priority; higher merges first. */
  readonly scores: Float32Array;
}

/**
 * Reads a llama2.c tokenizer file. With `vocabSize` it reads exactly that many entries (as
 * run.c does) and rejects a file that is shorter or longer; without it, it reads to the end.
 * `name` (usually the path) starts every error message.
 */
export function parseLlama2cTokenizer(bytes: Uint8Array, name: string, vocabSize?: number): Llama2cVocab {
  if (vocabSize !== undefined && !(Number.isInteger(vocabSize) && vocabSize > 0)) {
    throw new TokenizerError(`${name}: vocab size must be a positive integer, got ${vocabSize}`);
  }
  if (bytes.length < 4) {
    throw new TokenizerError(`${name}: ${bytes.length} bytes is too short for a llama2.c tokenizer (it starts with an int32 max_token_length)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const maxTokenLength = view.getInt32(0, true);
  if (maxTokenLength <= 0) {
    throw new TokenizerError(`${name}: max_token_length is ${maxTokenLength}; this is not a llama2.c tokenizer file`);
  }
  const pieces: Uint8Array[] = [];
  const scores: number[] = [];
  const of = vocabSize === undefined ? '' : ` of ${vocabSize}`;
  let offset = 4;
  while (vocabSize === undefined ? offset < bytes.length : pieces.length < vocabSize) {
    const id = pieces.length;
    if (offset + 8 > bytes.length) {
      throw new TokenizerError(`${name}: entry ${id}${of} runs past the end of the file (${bytes.length} bytes)`);
    }
    const score = view.getFloat32(offset, true);
    const len = view.getInt32(offset + 4, true);
    if (len < 0) {
      throw new TokenizerError(`${name}: entry ${id}${of} has a negative length (${len}) at byte ${offset + 4}`);
    }
    offset += 8;
    if (offset + len > bytes.length) {
      throw new TokenizerError(`${name}: entry ${id}${of} runs past the end of the file (${bytes.length} bytes)`);
    }
    pieces.push(bytes.slice(offset, offset + len));
    scores.push(score);
    offset += len;
  }
  if (offset < bytes.length) {
    const total = countEntries(view, offset);
    const held = total === undefined ? `more than ${pieces.length} entries` : `${pieces.length + total} entries`;
    throw new TokenizerError(
      `${name} holds ${held} but the model's vocab_size is ${pieces.length} ` +
        `(${bytes.length - offset} bytes left after entry ${pieces.length - 1}); is this the model's tokenizer?`,
    );
  }
  return { maxTokenLength, pieces, scores: Float32Array.from(scores) };
}

/** How many whole entries fill view from offset to the end exactly, or undefined if they do not. */
function countEntries(view: DataView, offset: number): number | undefined {
  let count = 0;
  while (offset + 8 <= view.byteLength) {
    const len = view.getInt32(offset + 4, true);
    if (len < 0) return undefined;
    offset += 8 + len;
    count++;
  }
  return offset === view.byteLength ? count : undefined;
}

export class Llama2cTokenizer implements Tokenizer {
  readonly format = 'llama2c';
  readonly vocabSize: number;
  readonly bosId = LLAMA2C_BOS_ID;
  readonly eosId = LLAMA2C_EOS_ID;
  /** run.c stops when it samples BOS; EOS ends a sequence too. */
  readonly stopIds: readonly number[] = [LLAMA2C_BOS_ID, LLAMA2C_EOS_ID];
  readonly maxTokenLength: number;
  private readonly pieces: readonly Uint8Array[];
  private readonly scores: Float32Array;
  /** keys[id]: the piece as a latin1 string, one char per byte, so any bytes make a Map key. */
  private readonly keys: readonly string[];
  private readonly ids = new Map<string, number>();
  /** byteValues[id]: b for a `<0xHH>` piece, else -1. */
  private readonly byteValues: Int16Array;
  private readonly dummyPrefixId: number | undefined;

  constructor(vocab: Llama2cVocab) {
    this.pieces = vocab.pieces;
    this.scores = vocab.scores;
    this.vocabSize = vocab.pieces.length;
    this.maxTokenLength = vocab.maxTokenLength;
    this.keys = vocab.pieces.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength).toString('latin1'));
    this.byteValues = new Int16Array(this.vocabSize);
    this.keys.forEach((key, id) => {
      if (!this.ids.has(key)) this.ids.set(key, id); // duplicate pieces: the lowest id wins
      const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(key);
      this.byteValues[id] = m?.[1] === undefined ? -1 : parseInt(m[1], 16);
    });
    this.dummyPrefixId = this.ids.get(' ');
  }

  static fromBytes(bytes: Uint8Array, name: string, vocabSize?: number): Llama2cTokenizer {
    return new Llama2cTokenizer(parseLlama2cTokenizer(bytes, name, vocabSize));
  }

  /** The raw piece of `id` as text (byte pieces stay `<0xHH>`). */
  pieceText(id: number): string {
    return utf8Decoder.decode(this.piece(id));
  }

  score(id: number): number {
    this.piece(id);
    return this.scores[id] ?? 0;
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const tokens: number[] = [];
    if (options.bos ?? true) tokens.push(LLAMA2C_BOS_ID);
    const bytes = utf8Encoder.encode(text);
    if (bytes.length > 0 && this.dummyPrefixId !== undefined) tokens.push(this.dummyPrefixId);
    // Each UTF-8 character (a lead byte and up to 3 continuation bytes) becomes its piece,
    // or its bytes as byte tokens.
    let start = 0;
    for (let i = 0; i < bytes.length; i++) {
      if (((bytes[i] ?? 0) & 0xc0) !== 0x80) start = i;
      if (((bytes[i + 1] ?? 0) & 0xc0) === 0x80 && i + 1 - start < 4) continue;
      const id = this.ids.get(Buffer.from(bytes.buffer, bytes.byteOffset + start, i + 1 - start).toString('latin1'));
      if (id !== undefined) tokens.push(id);
      else for (let j = start; j <= i; j++) tokens.push(this.byteToken(bytes[j] ?? 0));
      start = i + 1;
    }
    const merged = this.merge(tokens);
    if (options.eos ?? false) merged.push(LLAMA2C_EOS_ID);
    return merged;
  }

  /**
   * The bytes of `token` after `prev` before run.c's safe_printf filter: the leading space
   * dropped after BOS, a `<0xHH>` piece as its byte. Feed these to a streaming UTF-8 decoder
   * to print characters that byte-fallback tokens split.
   */
  pieceBytes(prev: number, token: number): Uint8Array {
    const piece = this.piece(token);
    const byte = this.byteValues[token] ?? -1;
    if (byte >= 0) return Uint8Array.of(byte);
    return piece.slice(prev === LLAMA2C_BOS_ID && piece[0] === 0x20 ? 1 : 0); // a copy: callers may keep it
  }

  decodePiece(prev: number, token: number): Uint8Array {
    // safe_printf: printf("%s") stops at a NUL, and a lone byte prints only if it is
    // printable ASCII or whitespace (so run.c drops the bytes of a split UTF-8 character).
    let out = this.pieceBytes(prev, token);
    const nul = out.indexOf(0);
    if (nul >= 0) out = out.subarray(0, nul);
    if (out.length === 1 && !isPrintOrSpace(out[0] ?? 0)) return new Uint8Array(0);
    return out;
  }

  /**
   * The pieces' bytes joined and decoded as UTF-8, so characters split into byte tokens come
   * out whole (unlike run.c, which drops them). BOS and EOS print nothing; `prev` defaults to BOS.
   */
  decode(tokens: readonly number[], prev: number = LLAMA2C_BOS_ID): string {
    const parts: Uint8Array[] = [];
    for (const token of tokens) {
      if (token !== LLAMA2C_BOS_ID && token !== LLAMA2C_EOS_ID) parts.push(this.pieceBytes(prev, token));
      prev = token;
    }
    return utf8Decoder.decode(Buffer.concat(parts));
  }

  private piece(id: number): Uint8Array {
    const piece = this.pieces[id];
    if (piece === undefined || !Number.isInteger(id)) {
      throw new TokenizerError(`token id ${id} is outside the vocabulary (${this.vocabSize} entries)`);
    }
    return piece;
  }

  private byteToken(byte: number): number {
    const id = byte + BYTE_TOKEN_OFFSET;
    if (this.byteValues[id] !== byte) {
      throw new TokenizerError(`no piece for byte 0x${byte.toString(16)} and no byte-fallback token <0x..> at id ${id}`);
    }
    return id;
  }

  /**
   * run.c's merge loop: while some adjacent pair concatenates to a piece, replace the pair
   * whose piece has the highest score (the leftmost on a tie) by that piece. The sequence is a
   * linked list of nodes that keep their original order, and candidate pairs wait in a heap
   * ordered by (score desc, left node asc); an entry whose nodes have changed is skipped.
   */
  private merge(tokens: number[]): number[] {
    const n = tokens.length;
    const tok = Int32Array.from(tokens); // tok[node]: its id, -1 once merged into its left neighbour
    const next = new Int32Array(n).map((_, i) => (i + 1 < n ? i + 1 : -1));
    const prev = new Int32Array(n).map((_, i) => i - 1);
    const heap = new PairHeap();
    const consider = (left: number): void => {
      const right = left < 0 ? -1 : (next[left] ?? -1);
      if (right < 0) return;
      const a = tok[left] ?? -1;
      const b = tok[right] ?? -1;
      const id = this.ids.get((this.keys[a] ?? '') + (this.keys[b] ?? ''));
      const score = id === undefined ? NaN : (this.scores[id] ?? NaN);
      if (id !== undefined && score > MIN_MERGE_SCORE) heap.push({ score, left, right, a, b, id });
    };
    for (let i = 0; i + 1 < n; i++) consider(i);
    for (let pair = heap.pop(); pair !== undefined; pair = heap.pop()) {
      const { left, right } = pair;
      if (next[left] !== right || tok[left] !== pair.a || tok[right] !== pair.b) continue; // stale
      tok[left] = pair.id;
      tok[right] = -1;
      const after = next[right] ?? -1;
      next[left] = after;
      if (after >= 0) prev[after] = left;
      consider(prev[left] ?? -1);
      consider(left);
    }
    const out: number[] = [];
    for (let node = n > 0 ? 0 : -1; node >= 0; node = next[node] ?? -1) out.push(tok[node] ?? -1);
    return out;
  }
}

/** C isprint || isspace in the "C" locale. */
function isPrintOrSpace(b: number): boolean {
  return (b >= 0x20 && b <= 0x7e) || (b >= 0x09 && b <= 0x0d);
}

interface Pair {
  score: number;
  left: number;
  right: number;
  /** The ids of left and right when the pair was pushed. */
  a: number;
  b: number;
  /** The id of the merged piece. */
  id: number;
}

/** A binary max-heap of candidate merges: higher score first, then the leftmost pair. */
class PairHeap {
  private readonly items: Pair[] = [];

  push(p: Pair): void {
    const items = this.items;
    let i = items.push(p) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const up = items[parent];
      if (up === undefined || !before(p, up)) break;
      items[i] = up;
      i = parent;
    }
    items[i] = p;
  }

  pop(): Pair | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (top === undefined || last === undefined || items.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let child = l;
      const lItem = items[l];
      const rItem = items[r];
      if (lItem === undefined) break;
      if (rItem !== undefined && before(rItem, lItem)) child = r;
      const c = items[child];
      if (c === undefined || !before(c, last)) break;
      items[i] = c;
      i = child;
    }
    items[i] = last;
    return top;
  }
}

function before(x: Pair, y: Pair): boolean {
  return x.score > y.score || (x.score === y.score && x.left < y.left);
}
