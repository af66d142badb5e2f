// `octoserve generate`: run the reference engine on one prompt and print the text (or JSON).
import {
  ReferenceEngine, Sampler, checkPromptFits, generate, openModel, type GenerateResult,
} from '@octoserve/model';
import type { Command } from './command.js';
import { numberFlag, runWithFlags, stringFlag } from './flags.js';

const HELP = `usage: octoserve generate [--model PATH] --prompt TEXT [options]

Runs the single-process reference engine on one prompt. Without --json the prompt is echoed and
the continuation streamed to stdout as it is generated (as llama2.c's run prints it), and a stats
line goes to stderr.

options:
  --model PATH        an HF directory (config.json + safetensors), a directory holding a llama2.c
                      .bin and its tokenizer, or a llama2.c .bin file (tokenizer.bin, tok<vocab>.bin,
                      tok512.bin or tokenizer.json beside it). Default: $OCTOSERVE_MODEL, else
                      stories260K from the user cache (downloaded once), else a synthetic model.
  --prompt TEXT       the prompt (default: empty, i.e. BOS only)
  --max-tokens N      most tokens to generate (default 256); generation also stops when the
                      context is full (prompt + generated positions <= the model's seq_len)
  --temperature T     0 is greedy argmax (default 0); > 0 samples from softmax(logits / T)
  --top-k K           sample only among the K most likely tokens (default 0: no limit)
  --top-p P           sample only within the smallest set of tokens whose probability reaches P
                      (default 1: no limit)
  --seed S            seed of the sampler's random numbers (default: from the clock); the same seed
                      gives the same tokens
  --tokenizer FILE    use this tokenizer instead of the one beside the model
  --json              print one JSON object instead of streaming text:
                      {"prompt_token_ids", "token_ids" (generated only), "text" (prompt +
                      continuation), "finish_reason" ("length" | "stop"),
                      "stats": {"tokens", "wall_ms", "tok_per_s"}}
  -h, --help          show this help

Generation stops at the model's stop tokens (BOS and EOS for llama2.c models); the stop token
is not printed. stats: tokens = generated tokens, wall_ms = prefill + decode time,
tok_per_s = tokens / wall time.`;

const OPTIONS = {
  model: { type: 'string' },
  prompt: { type: 'string' },
  'max-tokens': { type: 'string' },
  temperature: { type: 'string' },
  'top-k': { type: 'string' },
  'top-p': { type: 'string' },
  seed: { type: 'string' },
  tokenizer: { type: 'string' },
  json: { type: 'boolean' },
} as const;

export const generateCommand: Command = {
  summary: 'generate text from a prompt with the single-process reference engine',
  run: (argv) => runWithFlags('generate', HELP, argv, OPTIONS, async (flags) => {
    const prompt = stringFlag(flags, 'prompt') ?? '';
    const maxTokens = numberFlag(flags, 'max-tokens', 256, { min: 0, integer: true });
    const temperature = numberFlag(flags, 'temperature', 0, { min: 0 });
    const topK = numberFlag(flags, 'top-k', 0, { min: 0, integer: true });
    const topP = numberFlag(flags, 'top-p', 1, { min: Number.MIN_VALUE, max: 1 });
    const seed = numberFlag(flags, 'seed', Date.now() % 2 ** 31, { min: 0, integer: true });
    const json = flags.json === true;

    const model = await openModel({ model: stringFlag(flags, 'model'), tokenizer: stringFlag(flags, 'tokenizer') });
    const { tokenizer } = model;
    const engine = ReferenceEngine.fromCheckpoint(model.checkpoint);
    model.checkpoint.close();
    const promptIds = tokenizer.encode(prompt, { bos: true });
    checkPromptFits(promptIds.length, engine.maxSeqLen);
    const stopIds = [...new Set([...tokenizer.stopIds, ...engine.config.eosIds])];
    const sampler = new Sampler(engine.config.vocabSize, { temperature, topK, topP, seed });

    const out = process.stdout;
    if (!json) {
      for (let i = 1; i < promptIds.length; i++) out.write(tokenizer.decodePiece(promptIds[i - 1]!, promptIds[i]!));
    }
    const result: GenerateResult = await generate(engine, promptIds, {
      maxTokens, sampler, stopIds,
      ...(json ? {} : { onToken: (token: number, prev: number) => { out.write(tokenizer.decodePiece(prev, token)); } }),
    });
    const { tokens, wallMs, tokPerS } = result.stats;
    if (json) {
      const text = tokenizer.decode([...promptIds.slice(1), ...result.tokenIds], promptIds[0]);
      out.write(JSON.stringify({
        prompt_token_ids: result.promptTokenIds,
        token_ids: result.tokenIds,
        text,
        finish_reason: result.finishReason,
        stats: { tokens, wall_ms: wallMs, tok_per_s: tokPerS },
      }) + '\n');
    } else {
      out.write('\n');
      process.stderr.write(`achieved tok/s: ${tokPerS.toFixed(1)} (${tokens} tokens in ${wallMs.toFixed(1)} ms, ` +
        `prompt ${promptIds.length} tokens, finish: ${result.finishReason}, seed ${seed})\n`);
    }
    return 0;
  }),
};
