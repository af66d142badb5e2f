import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { TokenizerError } from './tokenizer.js';
import { HfTokenizer, loadHfTokenizer } from './tokenizer-hf.js';
import { TINY, tempDirWith, tinyHfTokenizerJson } from '@octoserve/testkit';

const CHATML =
  "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
const LLAMA2_STYLE =
  "{{ bos_token }}{% for m in messages %}{% if m.role == 'user' %}{{ '[INST] ' + m.content + ' [/INST]' }}" +
  "{% elif m.role == 'assistant' %}{{ ' ' + m.content + eos_token }}" +
  "{% else %}{{ raise_exception('unknown role ' + m.role) }}{% endif %}{% endfor %}";

const tiny = new HfTokenizer({
  name: 'tiny/tokenizer.json',
  tokenizer: tinyHfTokenizerJson() as Record<string, unknown>,
  tokenizerConfig: { bos_token: { content: '<s>', __type: 'AddedToken' }, eos_token: '</s>', chat_template: LLAMA2_STYLE },
});

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('utf8');

/** A GPT-2-style byte-level BPE with no BOS (as Qwen's): "hi" and "Ġhi", plus ChatML tokens. */
function byteLevelJson(): object {
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    version: '1.0',
    added_tokens: [special(5, '<|endoftext|>'), special(6, '<|im_start|>'), special(7, '<|im_end|>')],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: true },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: true },
    model: { type: 'BPE', unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab: { h: 0, i: 1, Ġ: 2, hi: 3, Ġhi: 4 }, merges: ['h i', 'Ġ hi'] },
  };
}

describe('HF tokenizer.json (Llama-2-style BPE with byte fallback)', () => {
  it('takes vocab size, BOS and EOS from the files', () => {
    assert.equal(tiny.vocabSize, 279);
    assert.equal(tiny.bosId, TINY.bos);
    assert.equal(tiny.eosId, TINY.eos);
    assert.deepEqual(tiny.stopIds, [TINY.eos]);
    assert.equal(tiny.addsBos, true, 'the post-processor adds <s>');
    assert.equal(tiny.pieceText(TINY.hello), '▁hello');
  });

  it('encodes with BOS by default and follows the bos/eos options', () => {
    assert.deepEqual(tiny.encode('hello world'), [TINY.bos, TINY.hello, TINY.world]);
    assert.deepEqual(tiny.encode('hello world', { bos: false, eos: true }), [TINY.hello, TINY.world, TINY.eos]);
    assert.deepEqual(tiny.encode(''), [TINY.bos]);
    assert.deepEqual(tiny.encode('<s>hello', { bos: true }), [TINY.bos, TINY.hello], 'BOS in the text is not doubled');
  });

  it('falls back to byte tokens and decodes them back into whole characters', () => {
    // é = C3 A9, 😀 = F0 9F 98 80
    assert.deepEqual(tiny.encode('hé', { bos: false }), [TINY.space, 260, 0xc3 + 3, 0xa9 + 3]);
    for (const s of ['hello world', 'héllo wörld', 'hello\nworld 😀']) assert.equal(tiny.decode(tiny.encode(s)), s);
  });

  it('decodePiece: the text a token adds, without the leading space after BOS, bytes for byte pieces', () => {
    assert.equal(text(tiny.decodePiece(TINY.bos, TINY.hello)), 'hello');
    assert.equal(text(tiny.decodePiece(TINY.hello, TINY.world)), ' world');
    assert.equal(text(tiny.decodePiece(TINY.world, TINY.hello)), ' hello');
    assert.deepEqual([...tiny.decodePiece(TINY.hello, 0xf0 + 3)], [0xf0]);
    assert.equal(text(tiny.decodePiece(TINY.hello, TINY.imEnd)), '<|im_end|>');
    const ids = tiny.encode('hello wörld 😀');
    const streamed = Buffer.concat(ids.slice(1).map((id, i) => tiny.decodePiece(ids[i] ?? 0, id)));
    assert.equal(streamed.toString('utf8'), 'hello wörld 😀');
  });

  it('decode after prev gives only the new text; special tokens are skipped', () => {
    assert.equal(tiny.decode([TINY.world], TINY.hello), ' world');
    assert.equal(tiny.decode([TINY.hello, TINY.world], TINY.bos), 'hello world');
    assert.equal(tiny.decode([TINY.bos, TINY.hello, TINY.eos]), 'hello');
    assert.equal(tiny.decode([]), '');
    assert.throws(() => tiny.decode([279]), /token id 279 is outside the vocabulary \(279 entries\)/);
  });

  it('renders the chat template with bos_token and eos_token, and raise_exception fails clearly', () => {
    const prompt = tiny.applyChatTemplate([
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'hello' },
      { role: 'user', content: 'again' },
    ]);
    assert.equal(prompt, '<s>[INST] hi [/INST] hello</s>[INST] again [/INST]');
    assert.equal(tiny.encode(prompt).filter((id) => id === TINY.bos).length, 1);
    assert.throws(() => tiny.applyChatTemplate([{ role: 'tool', content: 'x' }]), (err) => err instanceof TokenizerError && /tiny\/tokenizer\.json: the chat template failed: .*unknown role tool/.test(err.message));
  });

  it('without a chat template, applyChatTemplate says so', () => {
    const plain = new HfTokenizer({ name: 'plain', tokenizer: tinyHfTokenizerJson() as Record<string, unknown> });
    assert.equal(plain.chatTemplate, undefined);
    assert.equal(plain.bosId, TINY.bos, 'found by its conventional name');
    assert.equal(plain.eosId, TINY.eos);
    assert.throws(() => plain.applyChatTemplate([{ role: 'user', content: 'hi' }]), /TokenizerError: plain has no chat template/);
  });

  it('takes ids from config.json, and an explicit null bos_token means none', () => {
    const fromConfig = new HfTokenizer({
      name: 'cfg',
      tokenizer: tinyHfTokenizerJson() as Record<string, unknown>,
      tokenizerConfig: { chat_template: '{{ bos_token }}|{{ eos_token }}' },
      modelConfig: { bos_token_id: TINY.imStart, eos_token_id: [TINY.imEnd, TINY.eos] },
      generationConfig: { eos_token_id: TINY.eos },
    });
    assert.equal(fromConfig.bosId, TINY.imStart);
    assert.equal(fromConfig.eosId, TINY.imEnd);
    assert.deepEqual(fromConfig.stopIds, [TINY.imEnd, TINY.eos]);
    assert.equal(fromConfig.applyChatTemplate([]), '<|im_start|>|<|im_end|>');
    const noBos = new HfTokenizer({ name: 'nobos', tokenizer: tinyHfTokenizerJson() as Record<string, unknown>, tokenizerConfig: { bos_token: null, add_bos_token: false } });
    assert.equal(noBos.bosId, -1);
    assert.equal(noBos.addsBos, false);
    assert.deepEqual(noBos.encode('hello'), [TINY.hello]);
    assert.throws(
      () => new HfTokenizer({ name: 'x.json', tokenizer: tinyHfTokenizerJson() as Record<string, unknown>, modelConfig: { bos_token_id: 5000 } }),
      /x\.json: config\.json's bos_token_id 5000 is outside the vocabulary \(279 entries\)/,
    );
  });

  it('rejects broken inputs with the file name', () => {
    assert.throws(() => new HfTokenizer({ name: 'x.json', tokenizer: { version: '1.0' } }), { name: 'TokenizerError', message: 'x.json: not an HF tokenizer.json (no "model" object)' });
    assert.throws(() => new HfTokenizer({ name: 'x.json', tokenizer: { model: { type: 'Nope' } } }), /x\.json: cannot build the tokenizer: /);
    assert.throws(
      () => new HfTokenizer({ name: 'x.json', tokenizer: tinyHfTokenizerJson() as Record<string, unknown>, tokenizerConfig: { bos_token: '<bos>' } }),
      /x\.json: tokenizer_config\.json's bos_token "<bos>" is not in the vocabulary/,
    );
    assert.throws(
      () => new HfTokenizer({ name: 'x.json', tokenizer: tinyHfTokenizerJson() as Record<string, unknown>, tokenizerConfig: { chat_template: '{% for %}' } }),
      /x\.json: the chat template does not parse/,
    );
  });
});

describe('HF tokenizer directory (byte-level BPE, ChatML, no BOS)', () => {
  const dir = tempDirWith({
    'tokenizer.json': JSON.stringify(byteLevelJson()),
    'tokenizer_config.json': JSON.stringify({ eos_token: '<|im_end|>', chat_template: 'ignored: chat_template.jinja wins' }),
    'generation_config.json': JSON.stringify({ eos_token_id: [7, 5] }),
    'chat_template.jinja': CHATML,
  });
  const hf = loadHfTokenizer(join(dir, 'tokenizer.json'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('has no BOS, and stops on every EOS id', () => {
    assert.equal(hf.bosId, -1);
    assert.equal(hf.eosId, 7);
    assert.deepEqual(hf.stopIds, [7, 5]);
    assert.equal(hf.addsBos, false);
    assert.deepEqual(hf.encode('hi hi'), [3, 4]);
    assert.deepEqual(hf.encode('hi hi', { bos: true, eos: true }), [3, 4, 7]);
    assert.equal(hf.decode([3, 4]), 'hi hi');
    assert.equal(text(hf.decodePiece(3, 4)), ' hi');
  });

  it('uses chat_template.jinja, with the generation prompt on request', () => {
    const messages = [{ role: 'user', content: 'hi' }];
    assert.equal(hf.applyChatTemplate(messages), '<|im_start|>user\nhi<|im_end|>\n');
    const prompt = hf.applyChatTemplate(messages, { addGenerationPrompt: true });
    assert.equal(prompt, '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n');
    const ids = hf.encode(prompt);
    assert.equal(ids[0], 6);
    assert.equal(ids.filter((id) => id === 7).length, 1);
  });

  it('takes a named template list from tokenizer_config.json', () => {
    const listDir = tempDirWith({
      'tokenizer.json': JSON.stringify(byteLevelJson()),
      'tokenizer_config.json': JSON.stringify({ chat_template: [{ name: 'tool_use', template: 'T' }, { name: 'default', template: 'D{{ messages | length }}' }] }),
    });
    const listed = loadHfTokenizer(join(listDir, 'tokenizer.json'));
    rmSync(listDir, { recursive: true, force: true });
    assert.equal(listed.applyChatTemplate([{ role: 'user', content: 'x' }]), 'D1');
  });
});
