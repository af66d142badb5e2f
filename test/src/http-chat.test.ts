// /v1/chat/completions on a synthetic HF Llama whose tokenizer_config.json has a chat template:
// the messages go through the template, and greedy output equals /v1/completions given the
// rendered prompt's token ids. A model without a template gets a 400 that says so (tested in
// http-completions).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import OpenAI from 'openai';
import { SYNTH_SHAPES, SynthCheckpoint, openModel, resolveConfig, writeHf, type ChatTokenizer } from '@octoserve/model';
import { tinyHfTokenizerJson } from '@octoserve/testkit';
import { dropQueue, startCoordinator, uniqueQueue, type Coordinator } from './coordinator-process.js';

const TEMPLATE = "{% for m in messages %}<|im_start|>{{ m['role'] }} {{ m['content'] }}<|im_end|>{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant{% endif %}";

const dir = mkdtempSync(join(tmpdir(), 'octoserve-chat-'));
// the tiny shape with the tokenizer's vocabulary, so every id the model can pick has a piece
const tok = tinyHfTokenizerJson() as { model: { vocab: Record<string, number> }; added_tokens: { id: number }[] };
const vocabSize = 1 + Math.max(...Object.values(tok.model.vocab), ...tok.added_tokens.map((t) => t.id));
writeHf(dir, new SynthCheckpoint(resolveConfig({ ...SYNTH_SHAPES.tiny, vocabSize }), 7));
writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tinyHfTokenizerJson()));
writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<s>', eos_token: '</s>', chat_template: TEMPLATE }));

const MODEL = basename(dir);
const queue = uniqueQueue('http-chat');
let coord: Coordinator;
let openai: OpenAI;
before(async () => {
  coord = await startCoordinator(['--model', dir, '--tp', '2', '--queue', queue, '--http-port', '0', '--max-sequences', '2']);
  const base = (await coord.waitFor(/HTTP API \(OpenAI-compatible\) on (\S+?),?\s/, 1_000))[1] as string;
  openai = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'none', maxRetries: 0, timeout: 30_000 });
});
after(async () => {
  await coord?.stop();
  dropQueue(queue);
  rmSync(dir, { recursive: true, force: true });
});

test('chat messages go through the template; greedy output equals a completion of the rendered prompt', async () => {
  const messages = [{ role: 'system' as const, content: 'hello' }, { role: 'user' as const, content: 'hello world' }];
  const chat = await openai.chat.completions.create({ model: MODEL, messages, max_tokens: 12, temperature: 0 });
  assert.equal(chat.object, 'chat.completion');
  assert.equal(chat.choices[0]?.message.role, 'assistant');
  const loaded = await openModel({ model: dir });
  const tokenizer = loaded.tokenizer as ChatTokenizer;
  loaded.checkpoint.close();
  const ids = tokenizer.encode(tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true }), { bos: false });
  assert.equal(chat.usage?.prompt_tokens, ids.length);
  const plain = await openai.completions.create({ model: MODEL, prompt: ids, max_tokens: 12, temperature: 0 });
  assert.equal(chat.choices[0]?.message.content, plain.choices[0]?.text);
  assert.equal(chat.usage?.completion_tokens, plain.usage?.completion_tokens);

  // streamed: a role delta, then content deltas that add up to the same text
  let text = '';
  let role: string | undefined;
  for await (const chunk of await openai.chat.completions.create({ model: MODEL, messages, max_tokens: 12, temperature: 0, stream: true })) {
    const delta = chunk.choices[0]?.delta;
    role ??= delta?.role;
    text += delta?.content ?? '';
  }
  assert.equal(role, 'assistant');
  assert.equal(text, chat.choices[0]?.message.content);
});
