// `octoserve synth`: write a seeded random-weight model of a named shape, with a tokenizer.
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import {
  SYNTH_SHAPES, SynthCheckpoint, sharedModelsDir, writeHf, writeLlama2c, writeSynthTokenizer, type SynthShape,
} from '@octoserve/model';
import type { Command } from './command.js';
import { describeFiles } from './convert.js';
import { choiceFlag, numberFlag, requiredFlag, runWithFlags, stringFlag } from './flags.js';

const SHAPES = Object.keys(SYNTH_SHAPES) as SynthShape[];

function shapeLine(shape: SynthShape): string {
  const p = SYNTH_SHAPES[shape];
  return `  ${shape.padEnd(12)} dim ${p.dim}, hidden ${p.hiddenDim}, ${p.nLayers} layers, ${p.nHeads} heads, ` +
    `${p.nKvHeads ?? p.nHeads} kv heads, vocab ${p.vocabSize}, seq ${p.maxSeqLen}`;
}

const HELP = `usage: octoserve synth --shape SHAPE --format FMT --out PATH [options]

Writes a model of random weights (seeded, so the same seed writes the same bytes) and a
tokenizer beside it, ready for \`octoserve generate --model PATH\`.

options:
  --shape SHAPE       one of:
${SHAPES.map(shapeLine).join('\n')}
  --format FMT        llama2c (a .bin) or hf (a directory: config.json + model.safetensors)
  --out PATH          for llama2c a .bin file, or a directory that gets model.bin; for hf a directory
  --seed S            seed of the weights (default 0)
  --tokenizer FILE    the tokenizer to copy beside the model. Default: for 512-entry shapes a
                      synthesized byte-level tokenizer; for 32000-entry shapes the Llama 2
                      tokenizer in shared/models/llama2-tokenizer when there is one, else a
                      synthesized 32000-entry tokenizer
  -h, --help          show this help`;

const OPTIONS = {
  shape: { type: 'string' },
  format: { type: 'string' },
  out: { type: 'string' },
  seed: { type: 'string' },
  tokenizer: { type: 'string' },
} as const;

export const synthCommand: Command = {
  summary: 'write a seeded random-weight model of a named shape (tiny, gqa, stories15m, stories110m)',
  run: (argv) => runWithFlags('synth', HELP, argv, OPTIONS, async (flags) => {
    const shape = choiceFlag(flags, 'shape', SHAPES);
    const format = choiceFlag(flags, 'format', ['llama2c', 'hf'] as const);
    const out = requiredFlag(flags, 'out');
    const seed = numberFlag(flags, 'seed', 0, { min: 0, integer: true });
    const ckpt = SynthCheckpoint.ofShape(shape, seed);
    const vocab = ckpt.config.vocabSize;

    let written: string[];
    let dir: string;
    if (format === 'hf') {
      dir = out;
      written = writeHf(out, ckpt);
    } else {
      const file = out.endsWith('.bin') ? out : join(out, 'model.bin');
      dir = dirname(file);
      mkdirSync(dir, { recursive: true });
      writeLlama2c(file, ckpt);
      written = [file];
    }

    let tokenizer = stringFlag(flags, 'tokenizer');
    const shared = sharedModelsDir();
    if (tokenizer === undefined && vocab === 32000 && shared !== null) {
      const llama2 = join(shared, 'llama2-tokenizer', 'tokenizer.bin');
      if (existsSync(llama2)) tokenizer = llama2;
    }
    let note = '';
    if (tokenizer !== undefined) {
      const dest = join(dir, tokenizer.endsWith('.json') ? 'tokenizer.json' : 'tokenizer.bin');
      if (dest !== tokenizer) copyFileSync(tokenizer, dest);
      written.push(dest);
      note = ` (tokenizer copied from ${tokenizer})`;
    } else {
      const dest = join(dir, 'tokenizer.bin');
      writeSynthTokenizer(dest, vocab);
      written.push(dest);
      note = ` (synthesized ${vocab}-entry tokenizer ${basename(dest)})`;
    }
    process.stdout.write(`wrote synthetic ${shape} model, seed ${seed}, ${format}${note}:\n${describeFiles(written)}\n`);
    return 0;
  }),
};
