// A made-up tokenizer in llama2.c's tokenizer.bin layout, for synthetic models: the standard
// special and byte-fallback ids, then printable ASCII, then pieces of common words.
import { writeFileSync } from 'node:fs';
import { ModelError } from './errors.js';

const WORDS = [
  'the', 'and', 'was', 'to', 'a', 'he', 'she', 'it', 'they', 'said', 'day', 'once', 'upon', 'time', 'there',
  'little', 'girl', 'boy', 'named', 'play', 'with', 'her', 'his', 'happy', 'big', 'dog', 'cat', 'saw', 'went',
  'friend', 'fun', 'sun', 'park', 'tree', 'ball', 'mom', 'help', 'want', 'wanted', 'can', 'not', 'in', 'on',
  'of', 'for', 'you', 'we', 'very', 'one', 'had', 'were', 'lily', 'ben', 'sara', 'tom', 'toy', 'red', 'bird',
];

/** Token pieces for ids 259 and up, each the concatenation of two earlier pieces (so merges reach it). */
function* pieces(): Generator<string> {
  for (let c = 32; c < 127; c++) yield String.fromCharCode(c);
  for (const w of WORDS) {
    for (let i = 2; i <= w.length; i++) yield w.slice(0, i);
    for (let i = 1; i <= w.length; i++) yield ' ' + w.slice(0, i);
  }
  const letters = 'etaoinshrdlucmfwypvbgkjqxz';
  const strings = (n: number): string[] => n === 0 ? [''] : strings(n - 1).flatMap((s) => [...letters].map((l) => s + l));
  for (let n = 1; n <= 3; n++) {
    for (const s of strings(n)) {
      yield s;
      yield ' ' + s;
    }
  }
}

/** The tokenizer.bin bytes of a synthetic vocabulary of `vocabSize` entries (at least 512). */
export function synthTokenizerBytes(vocabSize: number): Uint8Array {
  if (vocabSize < 512) throw new ModelError(`a synthetic tokenizer needs a vocabulary of at least 512, got ${vocabSize}`);
  const vocab: string[] = ['<unk>', '\n<s>\n', '\n</s>\n'];
  for (let b = 0; b < 256; b++) vocab.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  const seen = new Set(vocab);
  for (const p of pieces()) {
    if (vocab.length === vocabSize) break;
    if (!seen.has(p)) {
      seen.add(p);
      vocab.push(p);
    }
  }
  if (vocab.length < vocabSize) throw new ModelError(`a synthetic tokenizer has at most ${vocab.length} entries, ${vocabSize} were asked for`);
  const encoded = vocab.map((p) => Buffer.from(p, 'utf8'));
  const total = 4 + encoded.reduce((n, b) => n + 8 + b.length, 0);
  const out = Buffer.alloc(total);
  out.writeInt32LE(Math.max(...encoded.map((b) => b.length)), 0);
  let off = 4;
  encoded.forEach((bytes, id) => {
    out.writeFloatLE(id < 259 ? 0 : -(id - 259), off); // earlier pieces merge first
    out.writeInt32LE(bytes.length, off + 4);
    bytes.copy(out, off + 8);
    off += 8 + bytes.length;
  });
  return out;
}

export function writeSynthTokenizer(path: string, vocabSize: number): void {
  writeFileSync(path, synthTokenizerBytes(vocabSize));
}
