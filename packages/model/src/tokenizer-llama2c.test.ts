import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { TokenizerError } from './tokenizer.js';
import { Llama2cTokenizer, parseLlama2cTokenizer, type Llama2cVocab } from './tokenizer-llama2c.js';
import { findSharedModels, llama2cBasePieces, llama2cTokenizerBytes } from '@octoserve/testkit';

const models = findSharedModels();
const tok512Bytes = readFileSync(join(models, 'stories260K', 'tok512.bin'));
const llamaBytes = readFileSync(join(models, 'llama2-tokenizer', 'tokenizer.bin'));
const tok512 = Llama2cTokenizer.fromBytes(tok512Bytes, 'tok512.bin', 512);
const llama = Llama2cTokenizer.fromBytes(llamaBytes, 'tokenizer.bin', 32000);

interface GoldenCase {
  prompt: string;
  prompt_token_ids: number[];
  generated_token_ids: number[];
  stop_reason: string;
  text: string;
  continuation_text: string;
}
const golden = JSON.parse(readFileSync(join(models, 'stories260K', 'golden.json'), 'utf8')) as { cases: GoldenCase[] };

/** The plain quadratic merge rule (rescan all pairs after every merge), as run.c applies it: the oracle for the heap version. */
function runCEncode(vocab: Llama2cVocab, text: string): number[] {
  const keys = vocab.pieces.map((p) => String.fromCharCode(...p));
  const ids = new Map<string, number>();
  keys.forEach((k, i) => ids.has(k) || ids.set(k, i));
  const lookup = (s: string): number => ids.get(s) ?? -1;
  const tokens = [1];
  const bytes = new TextEncoder().encode(text);
  if (bytes.length > 0) tokens.push(lookup(' '));
  let buf: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i] ?? 0;
    if ((c & 0xc0) !== 0x80) buf = [];
    buf.push(c);
    if (((bytes[i + 1] ?? 0) & 0xc0) === 0x80 && buf.length < 4) continue;
    const id = lookup(String.fromCharCode(...buf));
    if (id !== -1) tokens.push(id);
    else tokens.push(...buf.map((b) => b + 3));
    buf = [];
  }
  for (;;) {
    let bestScore = -1e10;
    let bestId = -1;
    let bestIdx = -1;
    for (let i = 0; i < tokens.length - 1; i++) {
      const id = lookup((keys[tokens[i] ?? 0] ?? '') + (keys[tokens[i + 1] ?? 0] ?? ''));
      const score = vocab.scores[id] ?? -Infinity;
      if (id !== -1 && score > bestScore) [bestScore, bestId, bestIdx] = [score, id, i];
    }
    if (bestIdx === -1) break;
    tokens.splice(bestIdx, 2, bestId);
  }
  return tokens;
}

/** What run.c prints for a whole sequence: each token's piece after the previous token. */
function printed(tok: Llama2cTokenizer, ids: readonly number[]): Buffer {
  return Buffer.concat(ids.slice(1).map((id, i) => tok.decodePiece(ids[i] ?? 0, id)));
}

/** A deterministic mix of ASCII words, spaces, accents, CJK and emoji. */
function randomText(seed: number, length: number): string {
  const alphabet = [...'abcdefghijklmnopqrstuvwxyz      .,!?\n\tTOLH', 'é', 'ü', 'ñ', '中', '文', '😀', '🦙', ' the', ' Once', ' upon'];
  let s = seed >>> 0;
  let out = '';
  for (let i = 0; i < length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out += alphabet[s % alphabet.length] ?? '';
  }
  return out;
}

describe('llama2.c tokenizer against run.c golden outputs (stories260K, tok512.bin)', () => {
  it('has the README facts: 512 pieces, max length 7, BOS/EOS/byte/dummy-prefix ids', () => {
    assert.equal(tok512.vocabSize, 512);
    assert.equal(tok512.maxTokenLength, 7);
    assert.equal(tok512.pieceText(1), '\n<s>\n');
    assert.equal(tok512.pieceText(2), '\n</s>\n');
    assert.equal(tok512.pieceText(3), '<0x00>');
    assert.equal(tok512.pieceText(258), '<0xFF>');
    assert.equal(tok512.pieceText(259), ' t');
    assert.equal(tok512.pieceText(403), ' Once');
    assert.equal(tok512.pieceText(410), ' ');
    assert.equal(tok512.score(260), -1);
    assert.deepEqual(tok512.stopIds, [1, 2]);
  });

  it('encodes the README examples', () => {
    assert.deepEqual(tok512.encode('Once upon a time'), [1, 403, 407, 261, 378]);
    assert.deepEqual(tok512.encode('A boy named'), [1, 410, 447, 268, 414, 422, 395]);
  });

  it('has 8 golden cases', () => assert.equal(golden.cases.length, 8));

  for (const c of golden.cases) {
    it(`"${c.prompt}": prompt ids and printed text match run.c byte for byte`, () => {
      assert.deepEqual(tok512.encode(c.prompt), c.prompt_token_ids);
      const all = [...c.prompt_token_ids, ...c.generated_token_ids];
      assert.ok(!c.generated_token_ids.includes(1), 'a sampled BOS ends generation');
      if (c.stop_reason === 'steps') assert.equal(all.length, 257);
      // run.c prints every token after the first (BOS), each after its predecessor.
      assert.deepEqual(printed(tok512, all), Buffer.from(c.text, 'utf8'));
      const last = c.prompt_token_ids.at(-1) ?? 1;
      const cont = Buffer.concat(c.generated_token_ids.map((id, i) => tok512.decodePiece(i === 0 ? last : (c.generated_token_ids[i - 1] ?? 0), id)));
      assert.deepEqual(cont, Buffer.from(c.continuation_text, 'utf8'));
      assert.equal(tok512.decode(c.generated_token_ids, last), c.continuation_text);
      assert.equal(tok512.decode(all), c.text);
    });
  }
});

describe('llama2.c encode', () => {
  it('follows the bos/eos options; empty text gets no dummy prefix', () => {
    assert.deepEqual(tok512.encode(''), [1]);
    assert.deepEqual(tok512.encode('', { bos: false }), []);
    assert.deepEqual(tok512.encode('Once upon a time', { bos: false, eos: true }), [403, 407, 261, 378, 2]);
  });

  it('matches the run.c merge loop on random text (both vocabularies)', () => {
    const vocab512 = parseLlama2cTokenizer(tok512Bytes, 'tok512.bin', 512);
    const vocab32k = parseLlama2cTokenizer(llamaBytes, 'tokenizer.bin', 32000);
    for (let seed = 1; seed <= 12; seed++) {
      const text = randomText(seed, 40 + seed * 7);
      assert.deepEqual(tok512.encode(text), runCEncode(vocab512, text), `tok512, seed ${seed}: ${JSON.stringify(text)}`);
      assert.deepEqual(llama.encode(text), runCEncode(vocab32k, text), `tokenizer.bin, seed ${seed}: ${JSON.stringify(text)}`);
    }
    const spaces = 'a      b  c          d';
    assert.deepEqual(llama.encode(spaces), runCEncode(vocab32k, spaces));
  });

  it('breaks score ties toward the leftmost pair and never merges at or below -1e10', () => {
    const bytes = llama2cTokenizerBytes([...llama2cBasePieces(), [' ', -100], ['a', -1], ['b', -1], ['ab', -5], ['ba', -5], ['c', -1], ['cc', -1e10], ['bc', -1e9]]);
    const tok = Llama2cTokenizer.fromBytes(bytes, 'tiny.bin');
    const id = (piece: string): number => [...Array(tok.vocabSize).keys()].findIndex((i) => tok.pieceText(i) === piece);
    assert.deepEqual(tok.encode('aba', { bos: false }), [id(' '), id('ab'), id('a')]);
    assert.deepEqual(tok.encode('bab', { bos: false }), [id(' '), id('ba'), id('b')]);
    assert.deepEqual(tok.encode('cc', { bos: false }), [id(' '), id('c'), id('c')]);
    assert.deepEqual(tok.encode('bc', { bos: false }), [id(' '), id('bc')]);
  });

  it('falls back to byte tokens (byte + 3) for characters without a piece', () => {
    // 中 is E4 B8 AD in UTF-8; tok512 has no piece for it (but has one for é, id 485).
    assert.deepEqual(tok512.encode('中', { bos: false }), [410, 0xe4 + 3, 0xb8 + 3, 0xad + 3]);
    assert.deepEqual(tok512.encode('é', { bos: false }), [410, 485]);
  });

  it('encodes a long prompt quickly and identically to the oracle on a prefix', () => {
    const text = randomText(99, 20000);
    const started = performance.now();
    const ids = llama.encode(text);
    const ms = performance.now() - started;
    assert.ok(ms < 2000, `20000 characters took ${ms.toFixed(0)} ms`);
    assert.equal(llama.decode(ids), text);
  });
});

describe('llama2.c with the Llama 2 vocabulary (tokenizer.bin, 32000 pieces)', () => {
  it('reads 32000 pieces with max length 27, also without a vocab size', () => {
    assert.equal(llama.vocabSize, 32000);
    assert.equal(llama.maxTokenLength, 27);
    assert.equal(Llama2cTokenizer.fromBytes(llamaBytes, 'tokenizer.bin').vocabSize, 32000);
  });

  it('encodes known Llama 2 ids', () => {
    assert.deepEqual(llama.encode('Hello world'), [1, 15043, 3186]);
    assert.deepEqual(llama.encode('\n'), [1, 29871, 13]); // "▁" then the byte <0x0A>
    assert.deepEqual(llama.encode('The'), [1, 450]);
    // 😀 is F0 9F 98 80: no piece, so four byte tokens after a lone "▁".
    assert.deepEqual(llama.encode('😀'), [1, 29871, 0xf0 + 3, 0x9f + 3, 0x98 + 3, 0x80 + 3]);
  });

  for (const text of ['Hello world', 'The quick brown fox, jumps over 13 lazy dogs!', 'héllo wörld, café crème brûlée', 'naïve 中文 😀 🦙 emoji', '  two leading spaces\tand a tab\n']) {
    it(`round-trips ${JSON.stringify(text)}`, () => {
      assert.equal(llama.decode(llama.encode(text)), text);
      assert.equal(llama.decode(llama.encode(text, { eos: true })), text);
    });
  }
});

describe('llama2.c decodePiece (run.c decode + safe_printf)', () => {
  it('drops the leading space only after BOS', () => {
    assert.equal(Buffer.from(llama.decodePiece(1, 15043)).toString(), 'Hello');
    assert.equal(Buffer.from(llama.decodePiece(15043, 3186)).toString(), ' world');
  });

  it('prints byte pieces as raw bytes, skipping single bytes that are neither printable nor whitespace', () => {
    assert.deepEqual([...llama.decodePiece(0, 0x0a + 3)], [0x0a]);
    assert.deepEqual([...llama.decodePiece(0, 0x41 + 3)], [0x41]);
    assert.deepEqual([...llama.decodePiece(0, 0x80 + 3)], []);
    assert.deepEqual([...llama.decodePiece(0, 0x07 + 3)], []);
    assert.deepEqual([...llama.decodePiece(0, 0x00 + 3)], []);
    assert.deepEqual([...llama.pieceBytes(0, 0x80 + 3)], [0x80]);
    // A whole emoji in byte tokens: run.c prints nothing, decode() joins it.
    const emoji = llama.encode('😀', { bos: false }).slice(1);
    assert.equal(Buffer.concat(emoji.map((id) => llama.decodePiece(0, id))).length, 0);
    assert.equal(llama.decode(emoji, 0), '😀');
  });

  it('prints BOS and EOS pieces as run.c would, but decode() skips them', () => {
    assert.equal(Buffer.from(tok512.decodePiece(403, 2)).toString(), '\n</s>\n');
    assert.equal(tok512.decode([1, 403, 407, 2]), 'Once upon');
  });

  it('rejects ids outside the vocabulary', () => {
    assert.throws(() => tok512.decodePiece(1, 512), (err) => err instanceof TokenizerError && /token id 512 is outside the vocabulary \(512 entries\)/.test(err.message));
    assert.throws(() => tok512.decode([-1]), TokenizerError);
  });
});

describe('llama2.c file parsing', () => {
  it('reports a truncated file with the entry, the count and the file size', () => {
    let offset = 4;
    for (let id = 0; id < 300; id++) offset += 8 + tok512Bytes.readInt32LE(offset + 4);
    const cut = tok512Bytes.subarray(0, offset + 3);
    assert.throws(
      () => parseLlama2cTokenizer(cut, 'tok512.bin', 512),
      { name: 'TokenizerError', message: `tok512.bin: entry 300 of 512 runs past the end of the file (${offset + 3} bytes)` },
    );
    assert.throws(() => parseLlama2cTokenizer(cut, 'tok512.bin'), { message: `tok512.bin: entry 300 runs past the end of the file (${offset + 3} bytes)` });
  });

  it('reports a vocab size that does not match the file', () => {
    assert.throws(() => parseLlama2cTokenizer(tok512Bytes, 'tok512.bin', 32000), { message: 'tok512.bin: entry 512 of 32000 runs past the end of the file (6227 bytes)' });
    assert.throws(() => parseLlama2cTokenizer(tok512Bytes, 'tok512.bin', 500), /tok512\.bin holds 512 entries but the model's vocab_size is 500/);
    assert.throws(() => parseLlama2cTokenizer(tok512Bytes, 'tok512.bin', 0), /vocab size must be a positive integer, got 0/);
  });

  it('rejects files that are not llama2.c tokenizers', () => {
    assert.throws(() => parseLlama2cTokenizer(new Uint8Array(2), 'x.bin'), /x\.bin: 2 bytes is too short/);
    assert.throws(() => parseLlama2cTokenizer(new Uint8Array(8), 'x.bin'), /x\.bin: max_token_length is 0/);
    const negative = llama2cTokenizerBytes([['a', 0]]);
    new DataView(negative.buffer).setInt32(8, -4, true);
    assert.throws(() => parseLlama2cTokenizer(negative, 'x.bin'), /x\.bin: entry 0 has a negative length \(-4\)/);
  });
});
