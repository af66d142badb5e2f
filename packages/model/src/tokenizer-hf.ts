// HF tokenizers: tokenizer.json through @huggingface/tokenizers, with BOS/EOS and the chat
// template taken from the files beside it (tokenizer_config.json, config.json,
// generation_config.json, chat_template.jinja / chat_template.json).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Tokenizer as UntypedCore } from '@huggingface/tokenizers';
import { ChatTemplate, pickChatTemplate } from './chat-template.js';
import {
  TokenizerError,
  type ChatMessage,
  type ChatTemplateOptions,
  type ChatTokenizer,
  type EncodeOptions,
} from './tokenizer.js';

type Json = Record<string, unknown>;

/**
 * The part of @huggingface/tokenizers' Tokenizer used here. Its published .d.ts files import
 * each other without extensions, which NodeNext resolution cannot follow, so the import
 * arrives as `any`; this restores the types.
 */
interface HfCore {
  encode(text: string, options: { add_special_tokens: boolean }): { ids: number[] };
  decode(ids: number[], options: { skip_special_tokens: boolean }): string;
  token_to_id(token: string): number | undefined;
  id_to_token(id: number): string | undefined;
  get_vocab(withAddedTokens: boolean): Map<string, number>;
  get_added_tokens_decoder(): Map<number, { content: string; special: boolean }>;
}
const HfCoreTokenizer = UntypedCore as new (tokenizer: object, config: object) => HfCore;

/** The parsed contents of a model's tokenizer files; only tokenizer.json is required. */
export interface HfTokenizerFiles {
  /** Starts error messages, usually the tokenizer.json path. */
  name: string;
  tokenizer: Json;
  /** tokenizer_config.json */
  tokenizerConfig?: Json;
  /** config.json (bos_token_id, eos_token_id) */
  modelConfig?: Json;
  /** generation_config.json (eos_token_id) */
  generationConfig?: Json;
  /** chat_template.jinja, which takes precedence over tokenizer_config.json's chat_template. */
  chatTemplate?: string;
}

const BOS_NAMES = ['<s>', '<|begin_of_text|>', '<bos>', '<|startoftext|>'];
const EOS_NAMES = ['</s>', '<|end_of_text|>', '<eos>', '<|endoftext|>'];
const SPECIAL_KEYS = ['bos_token', 'eos_token', 'unk_token', 'pad_token', 'sep_token', 'cls_token', 'mask_token'];
const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>$/;
const utf8 = new TextEncoder();

export class HfTokenizer implements ChatTokenizer {
  readonly format = 'hf';
  readonly vocabSize: number;
  /** -1 when the tokenizer has no BOS token (e.g. Qwen). */
  readonly bosId: number;
  /** -1 when the tokenizer has no EOS token. */
  readonly eosId: number;
  /** EOS plus every eos_token_id of config.json and generation_config.json. */
  readonly stopIds: readonly number[];
  readonly chatTemplate: string | undefined;
  /** Whether encode() prepends BOS when not told: tokenizer_config's add_bos_token, else what the post-processor does. */
  readonly addsBos: boolean;
  private readonly core: HfCore;
  private readonly specialIds: ReadonlySet<number>;
  private readonly byteFallback: boolean;
  private readonly template: ChatTemplate | undefined;
  private readonly name: string;

  constructor(files: HfTokenizerFiles) {
    const { name, tokenizer } = files;
    this.name = name;
    const config = files.tokenizerConfig ?? {};
    if (typeof tokenizer.model !== 'object' || tokenizer.model === null) {
      throw new TokenizerError(`${name}: not an HF tokenizer.json (no "model" object)`);
    }
    const filled = { normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, added_tokens: [], ...tokenizer };
    try {
      this.core = new HfCoreTokenizer(filled, config);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw new TokenizerError(`${name}: cannot build the tokenizer: ${message}`, { cause: err });
    }
    let maxId = -1;
    for (const id of this.core.get_vocab(true).values()) maxId = Math.max(maxId, id);
    this.vocabSize = maxId + 1;
    const special = [...this.core.get_added_tokens_decoder()].filter(([, t]) => t.special);
    this.specialIds = new Set(special.map(([id]) => id));
    const specialByText = new Map(special.map(([id, t]) => [t.content, id]));
    this.byteFallback = (tokenizer.model as Json).byte_fallback === true;

    const specialTokens: Record<string, string> = {};
    for (const key of SPECIAL_KEYS) {
      const text = tokenText(config[key]);
      if (text !== undefined) specialTokens[key] = text;
    }
    const configEos = idList(files.modelConfig?.eos_token_id);
    const resolve = (key: string, configIds: number[], names: string[]): number => {
      if (config[key] === null) return -1; // tokenizer_config.json says there is none (e.g. Qwen's bos_token)
      const text = specialTokens[key];
      if (text !== undefined) {
        const id = this.core.token_to_id(text);
        if (id === undefined) throw new TokenizerError(`${name}: tokenizer_config.json's ${key} ${JSON.stringify(text)} is not in the vocabulary`);
        return id;
      }
      const fromConfig = configIds[0];
      if (fromConfig !== undefined && fromConfig >= this.vocabSize) {
        throw new TokenizerError(`${name}: config.json's ${key}_id ${fromConfig} is outside the vocabulary (${this.vocabSize} entries)`);
      }
      // Else a special added token with a conventional name.
      return fromConfig ?? names.map((n) => specialByText.get(n)).find((id) => id !== undefined) ?? -1;
    };
    this.bosId = resolve('bos_token', idList(files.modelConfig?.bos_token_id), BOS_NAMES);
    this.eosId = resolve('eos_token', configEos, EOS_NAMES);
    // Templates may use bos_token / eos_token even where only config.json names them.
    if (specialTokens.bos_token === undefined && this.bosId >= 0) specialTokens.bos_token = this.pieceText(this.bosId);
    if (specialTokens.eos_token === undefined && this.eosId >= 0) specialTokens.eos_token = this.pieceText(this.eosId);
    const stops = [this.eosId, ...configEos, ...idList(files.generationConfig?.eos_token_id)];
    this.stopIds = [...new Set(stops.filter((id) => id >= 0))];
    this.addsBos = typeof config.add_bos_token === 'boolean' ? config.add_bos_token : this.postProcessorAddsBos();

    this.chatTemplate = files.chatTemplate ?? pickChatTemplate(config.chat_template, name);
    this.template = this.chatTemplate === undefined ? undefined : new ChatTemplate(this.chatTemplate, specialTokens, name);
  }

  /** The token's string in the vocabulary (e.g. "▁Hello", "<0x0A>", "<|im_end|>"). */
  pieceText(id: number): string {
    const text = this.core.id_to_token(id);
    if (text === undefined) throw new TokenizerError(`token id ${id} is outside the vocabulary (${this.vocabSize} entries)`);
    return text;
  }

  /** The text is tokenized with added tokens recognised; BOS is not doubled if the text already starts with it. */
  encode(text: string, options: EncodeOptions = {}): number[] {
    const ids = text === '' ? [] : this.core.encode(text, { add_special_tokens: false }).ids;
    if ((options.bos ?? this.addsBos) && this.bosId >= 0 && ids[0] !== this.bosId) ids.unshift(this.bosId);
    if ((options.eos ?? false) && this.eosId >= 0) ids.push(this.eosId);
    return ids;
  }

  /**
   * The text `token` adds after `prev`: decode([prev, token]) less decode([prev]), special
   * tokens skipped, so a piece after BOS loses its leading space as in llama2.c. A special
   * token gives its own text; a byte-fallback piece gives its byte.
   */
  decodePiece(prev: number, token: number): Uint8Array {
    const piece = this.pieceText(token);
    if (this.specialIds.has(token)) return utf8.encode(piece);
    const byte = this.byteFallback ? BYTE_PIECE.exec(piece)?.[1] : undefined;
    if (byte !== undefined) return Uint8Array.of(parseInt(byte, 16));
    return utf8.encode(this.textAfter([token], prev));
  }

  /** Special tokens are skipped; byte-fallback pieces are joined before UTF-8 decoding. */
  decode(tokens: readonly number[], prev?: number): string {
    return prev === undefined ? this.decodeIds(tokens) : this.textAfter(tokens, prev);
  }

  applyChatTemplate(messages: readonly ChatMessage[], options?: ChatTemplateOptions): string {
    if (this.template === undefined) {
      throw new TokenizerError(`${this.name} has no chat template (none in tokenizer_config.json, chat_template.jinja or chat_template.json)`);
    }
    return this.template.render(messages, options);
  }

  private textAfter(tokens: readonly number[], prev: number): string {
    const before = this.decodeIds([prev]);
    const both = this.decodeIds([prev, ...tokens]);
    return both.startsWith(before) ? both.slice(before.length) : this.decodeIds(tokens);
  }

  private decodeIds(ids: readonly number[]): string {
    for (const id of ids) this.pieceText(id);
    return ids.length === 0 ? '' : this.core.decode([...ids], { skip_special_tokens: true });
  }

  private postProcessorAddsBos(): boolean {
    if (this.bosId < 0) return false;
    return this.core.encode('a', { add_special_tokens: true }).ids[0] === this.bosId;
  }
}

/**
 * Loads tokenizer.json at `path` and the optional files beside it. A `vocabSize` smaller than
 * the tokenizer's is an error (the model could not score its ids); a larger one is padding.
 */
export function loadHfTokenizer(path: string, vocabSize?: number): HfTokenizer {
  const tokenizer = readJson(path);
  if (tokenizer === undefined) throw new TokenizerError(`no tokenizer at ${path}; pass --tokenizer FILE`);
  const dir = dirname(path);
  const template = join(dir, 'chat_template.jinja');
  const files: HfTokenizerFiles = {
    name: path,
    tokenizer,
    tokenizerConfig: readJson(join(dir, 'tokenizer_config.json')),
    modelConfig: readJson(join(dir, 'config.json')),
    generationConfig: readJson(join(dir, 'generation_config.json')),
    chatTemplate: existsSync(template)
      ? readFileSync(template, 'utf8')
      : pickChatTemplate(readJson(join(dir, 'chat_template.json'))?.chat_template, join(dir, 'chat_template.json')),
  };
  const hf = new HfTokenizer(files);
  if (vocabSize !== undefined && hf.vocabSize > vocabSize) {
    throw new TokenizerError(`${path} has ${hf.vocabSize} tokens but the model's vocab_size is ${vocabSize}; is this the model's tokenizer?`);
  }
  return hf;
}

/** The parsed JSON object at path, or undefined if there is no file there. */
function readJson(path: string): Json | undefined {
  if (!existsSync(path)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new TokenizerError(`${path}: not valid JSON (${message})`, { cause: err });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TokenizerError(`${path}: expected a JSON object`);
  }
  return value as Json;
}

/** A special-token entry of tokenizer_config.json: a string or an AddedToken object. */
function tokenText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && 'content' in value && typeof value.content === 'string') return value.content;
  return undefined;
}

/** An *_token_id of config.json: a number, a list of numbers, or absent. */
function idList(value: unknown): number[] {
  const list = Array.isArray(value) ? value : [value];
  return list.filter((v): v is number => Number.isInteger(v) && (v as number) >= 0);
}
