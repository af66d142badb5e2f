// The tokenizer a GGUF file carries: `tokenizer.ggml.model` "llama" is a SentencePiece vocabulary
// (tokens with U+2581 for a space, merge scores, token types, `<0xNN>` byte-fallback pieces),
// which is exactly what llama2.c's tokenizer.bin holds, so it runs on Llama2cTokenizer.
import { LLAMA2C_BOS_ID, LLAMA2C_EOS_ID, Llama2cTokenizer, type Llama2cVocab } from './tokenizer-llama2c.js';
import { TokenizerError } from './tokenizer.js';
import { GgufTokenType, GgufValueType, type GgufArray, type GgufEntry } from './gguf-format.js';
import { gguf } from './gguf-write.js';

const SPM_SPACE = '\u2581';

function entryArray(metadata: ReadonlyMap<string, GgufEntry>, key: string, path: string): GgufArray | undefined {
  const e = metadata.get(key);
  if (e === undefined) return undefined;
  if (e.type !== GgufValueType.ARRAY) throw new TokenizerError(`${path}: ${key} is not an array`);
  return e.value as GgufArray;
}

/** tokenizer.ggml.bos/eos_token_id, or llama2.c's 1 and 2 when absent. */
export function ggufSpecialIds(metadata: ReadonlyMap<string, GgufEntry>): { bosId: number; eosId: number } {
  const id = (key: string, fallback: number): number => {
    const v = metadata.get(key)?.value;
    return typeof v === 'number' || typeof v === 'bigint' ? Number(v) : fallback;
  };
  return { bosId: id('tokenizer.ggml.bos_token_id', LLAMA2C_BOS_ID), eosId: id('tokenizer.ggml.eos_token_id', LLAMA2C_EOS_ID) };
}

/** The token list's length, or undefined when the file carries none. */
export function ggufTokenCount(metadata: ReadonlyMap<string, GgufEntry>, path: string): number | undefined {
  return entryArray(metadata, 'tokenizer.ggml.tokens', path)?.items.length;
}

/** The SentencePiece vocabulary of a GGUF's metadata as llama2.c pieces (spaces restored). */
export function ggufVocab(metadata: ReadonlyMap<string, GgufEntry>, path: string): Llama2cVocab {
  const model = metadata.get('tokenizer.ggml.model')?.value;
  if (model === undefined) throw new TokenizerError(`${path}: the GGUF file carries no tokenizer (no tokenizer.ggml.model); pass --tokenizer FILE`);
  if (model !== 'llama') {
    throw new TokenizerError(`${path}: GGUF tokenizer model '${String(model)}' is not supported (only 'llama', SentencePiece); pass --tokenizer tokenizer.json`);
  }
  const tokens = entryArray(metadata, 'tokenizer.ggml.tokens', path);
  if (tokens === undefined || tokens.itemType !== GgufValueType.STRING) throw new TokenizerError(`${path}: tokenizer.ggml.tokens is missing or not a list of strings`);
  const scores = entryArray(metadata, 'tokenizer.ggml.scores', path);
  if (scores !== undefined && (!(scores.items instanceof Float32Array) || scores.items.length !== tokens.items.length)) {
    throw new TokenizerError(`${path}: tokenizer.ggml.scores must be ${tokens.items.length} float32 values`);
  }
  const pieces = (tokens.items as readonly string[]).map((t) => new Uint8Array(Buffer.from(t.replaceAll(SPM_SPACE, ' '), 'utf8')));
  const { bosId, eosId } = ggufSpecialIds(metadata);
  if (bosId !== LLAMA2C_BOS_ID || eosId !== LLAMA2C_EOS_ID) {
    throw new TokenizerError(`${path}: the GGUF vocabulary has BOS ${bosId} and EOS ${eosId}; its SentencePiece tokenizer needs BOS 1 and EOS 2 (pass --tokenizer FILE)`);
  }
  return {
    maxTokenLength: Math.max(1, ...pieces.map((p) => p.length)),
    pieces,
    scores: scores === undefined ? new Float32Array(pieces.length) : (scores.items as Float32Array),
  };
}

export function ggufTokenizer(metadata: ReadonlyMap<string, GgufEntry>, path: string): Llama2cTokenizer {
  return new Llama2cTokenizer(ggufVocab(metadata, path));
}

/** The tokenizer.ggml.* metadata of a llama2.c vocabulary. */
export function vocabMetadata(vocab: Llama2cVocab, bosId: number, eosId: number): [string, GgufEntry][] {
  const tokens: string[] = [];
  const types = new Int32Array(vocab.pieces.length);
  vocab.pieces.forEach((p, id) => {
    const text = Buffer.from(p).toString('utf8');
    tokens.push(text.replaceAll(' ', SPM_SPACE));
    types[id] = /^<0x[0-9A-Fa-f]{2}>$/.test(text) ? GgufTokenType.BYTE
      : id === bosId || id === eosId ? GgufTokenType.CONTROL
      : text === '<unk>' ? GgufTokenType.UNKNOWN : GgufTokenType.NORMAL;
  });
  const entries: [string, GgufEntry][] = [
    ['tokenizer.ggml.model', gguf.str('llama')],
    ['tokenizer.ggml.tokens', gguf.array(GgufValueType.STRING, tokens)],
    ['tokenizer.ggml.scores', gguf.array(GgufValueType.FLOAT32, Float32Array.from(vocab.scores))],
    ['tokenizer.ggml.token_type', gguf.array(GgufValueType.INT32, types)],
    ['tokenizer.ggml.bos_token_id', gguf.u32(bosId)],
    ['tokenizer.ggml.eos_token_id', gguf.u32(eosId)],
  ];
  const unk = tokens.indexOf('<unk>');
  if (unk >= 0) entries.push(['tokenizer.ggml.unknown_token_id', gguf.u32(unk)]);
  return entries;
}

/** A llama2.c tokenizer.bin holding `vocab` (for converting a GGUF to a format without a vocabulary). */
export function llama2cTokenizerFile(vocab: Llama2cVocab): Uint8Array {
  const size = 4 + vocab.pieces.reduce((n, p) => n + 8 + p.length, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setInt32(0, vocab.maxTokenLength, true);
  let at = 4;
  vocab.pieces.forEach((p, id) => {
    view.setFloat32(at, vocab.scores[id] ?? 0, true);
    view.setInt32(at + 4, p.length, true);
    out.set(p, at + 8);
    at += 8 + p.length;
  });
  return out;
}

