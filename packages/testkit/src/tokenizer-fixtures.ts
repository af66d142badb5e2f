// Test inputs for the tokenizer tests: small tokenizer files built in memory (llama2.c layout, HF tokenizer.json).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A llama2.c tokenizer file: int32 max_token_length, then per piece float32 score, int32 len, bytes. */
export function llama2cTokenizerBytes(entries: readonly (readonly [piece: string | Uint8Array, score: number])[]): Uint8Array {
  const pieces = entries.map(([p]) => (typeof p === 'string' ? new TextEncoder().encode(p) : p));
  const size = 4 + pieces.reduce((n, p) => n + 8 + p.length, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setInt32(0, Math.max(1, ...pieces.map((p) => p.length)), true);
  let offset = 4;
  entries.forEach(([, score], i) => {
    const piece = pieces[i] ?? new Uint8Array(0);
    view.setFloat32(offset, score, true);
    view.setInt32(offset + 4, piece.length, true);
    out.set(piece, offset + 8);
    offset += 8 + piece.length;
  });
  return out;
}

/** <unk>, BOS, EOS and the 256 byte pieces, as ids 0..258 of every llama2.c vocabulary. */
export function llama2cBasePieces(): [string, number][] {
  const bytes = Array.from({ length: 256 }, (_, b): [string, number] => [`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, 0]);
  return [['<unk>', 0], ['\n<s>\n', 0], ['\n</s>\n', 0], ...bytes];
}

/** A fresh temporary directory holding the given files. */
export function tempDirWith(files: Readonly<Record<string, string | Uint8Array>>): string {
  const dir = mkdtempSync(join(tmpdir(), 'octoserve-tokenizer-'));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return dir;
}

// Ids of the tiny HF tokenizer below.
export const TINY = { unk: 0, bos: 1, eos: 2, space: 259, hello: 271, world: 276, imStart: 277, imEnd: 278 } as const;

/**
 * A Llama-2-style tokenizer.json (SentencePiece BPE with byte fallback) that knows
 * "▁hello" and "▁world": 0 <unk>, 1 <s>, 2 </s>, 3..258 <0x00>..<0xFF>, then merged pieces,
 * and the special chat tokens <|im_start|> (277) and <|im_end|> (278).
 */
export function tinyHfTokenizerJson(): object {
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = b + 3;
  const pieces = ['▁', 'h', 'e', 'l', 'o', 'w', 'r', 'd', 'he', 'll', 'llo', 'hello', '▁hello', '▁w', 'or', '▁wor', 'ld', '▁world'];
  pieces.forEach((p, i) => (vocab[p] = 259 + i));
  const merges = ['h e', 'l l', 'll o', 'he llo', '▁ hello', '▁ w', 'o r', '▁w or', 'l d', '▁wor ld'];
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(0, '<unk>'), special(1, '<s>'), special(2, '</s>'), special(277, '<|im_start|>'), special(278, '<|im_end|>')],
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: '▁' },
        { type: 'Replace', pattern: { String: ' ' }, content: '▁' },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: true, vocab, merges },
  };
}
