import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ModelError } from './errors.js';
import { TokenizerError } from './tokenizer.js';
import { loadTokenizer } from './tokenizer-load.js';
import { findSharedModels, tempDirWith, tinyHfTokenizerJson } from '@octoserve/testkit';

const models = findSharedModels();
const tok512Path = join(models, 'stories260K', 'tok512.bin');
const tok512Bytes = readFileSync(tok512Path);
const dirs: string[] = [];
const temp = (files: Record<string, string | Uint8Array>): string => {
  const dir = tempDirWith(files);
  dirs.push(dir);
  return dir;
};
after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

describe('loadTokenizer', () => {
  it('opens llama2.c files with and without the vocab size', () => {
    const tok = loadTokenizer(tok512Path, 512);
    assert.equal(tok.format, 'llama2c');
    assert.deepEqual(tok.encode('Once upon a time'), [1, 403, 407, 261, 378]);
    assert.equal(loadTokenizer(tok512Path).vocabSize, 512);
  });

  it('looks in a directory for tokenizer.json, tokenizer.bin, tok512.bin in that order', () => {
    assert.equal(loadTokenizer(join(models, 'stories260K'), 512).vocabSize, 512);
    assert.equal(loadTokenizer(join(models, 'llama2-tokenizer')).vocabSize, 32000);
    const both = temp({ 'tokenizer.json': JSON.stringify(tinyHfTokenizerJson()), 'tok512.bin': tok512Bytes });
    assert.equal(loadTokenizer(both).format, 'hf');
    assert.throws(() => loadTokenizer(temp({})), (err) => err instanceof TokenizerError && /^no tokenizer in .* \(looked for tokenizer\.json, tokenizer\.bin, tok512\.bin\); pass --tokenizer FILE$/.test(err.message));
  });

  it('opens tokenizer.json as HF, also under another name when it starts with {"', () => {
    const dir = temp({ 'tokenizer.json': JSON.stringify(tinyHfTokenizerJson()), 'vocab.tok': JSON.stringify(tinyHfTokenizerJson()) });
    const hf = loadTokenizer(join(dir, 'tokenizer.json'), 279);
    assert.equal(hf.format, 'hf');
    assert.deepEqual(hf.encode('hello world'), [1, 271, 276]);
    assert.equal(loadTokenizer(join(dir, 'vocab.tok')).format, 'hf');
    assert.equal(loadTokenizer(join(dir, 'tokenizer.json'), 32000).vocabSize, 279, 'a padded model vocabulary is fine');
  });

  it('names a missing file and the flag to pass', () => {
    const missing = join(models, 'stories260K', 'nope.bin');
    assert.throws(() => loadTokenizer(missing), { name: 'TokenizerError', message: `no tokenizer at ${missing}; pass --tokenizer FILE` });
    assert.throws(() => loadTokenizer(join(tok512Path, 'x')), { message: `no tokenizer at ${join(tok512Path, 'x')}; pass --tokenizer FILE` });
  });

  it('reports truncated llama2.c files and vocab size mismatches with the path', () => {
    const cut = join(temp({ 'tok512.bin': tok512Bytes.subarray(0, 4000) }), 'tok512.bin');
    assert.throws(() => loadTokenizer(cut, 512), (err) => err instanceof ModelError && new RegExp(`^${escape(cut)}: entry \\d+ of 512 runs past the end of the file \\(4000 bytes\\)$`).test(err.message));
    assert.throws(() => loadTokenizer(tok512Path, 32000), { message: `${tok512Path}: entry 512 of 32000 runs past the end of the file (6227 bytes)` });
    assert.throws(() => loadTokenizer(join(models, 'llama2-tokenizer', 'tokenizer.bin'), 512), /tokenizer\.bin holds 32000 entries but the model's vocab_size is 512/);
    const dir = temp({ 'tokenizer.json': JSON.stringify(tinyHfTokenizerJson()) });
    assert.throws(() => loadTokenizer(dir, 100), /tokenizer\.json has 279 tokens but the model's vocab_size is 100/);
  });

  it('reports malformed JSON with the file name', () => {
    const dir = temp({ 'tokenizer.json': '{ "model": ', 'other.json': '[1, 2]' });
    assert.throws(() => loadTokenizer(join(dir, 'tokenizer.json')), (err) => err instanceof TokenizerError && err.message.startsWith(`${join(dir, 'tokenizer.json')}: not valid JSON (`));
    assert.throws(() => loadTokenizer(join(dir, 'other.json')), { message: `${join(dir, 'other.json')}: expected a JSON object` });
    const badConfig = temp({ 'tokenizer.json': JSON.stringify(tinyHfTokenizerJson()), 'tokenizer_config.json': 'nope' });
    assert.throws(() => loadTokenizer(badConfig), (err) => err instanceof TokenizerError && err.message.startsWith(`${join(badConfig, 'tokenizer_config.json')}: not valid JSON`));
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
