// `octoserve synth`: write a seeded random-weight model of a named shape, with a tokenizer.
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import {
  SYNTH_SHAPES, SynthCheckpoint, writeHf, writeLlama2c, writeSynthTokenizer, type SynthShape,
} from '@octoserve/model';
import type { Command } from 'commander';
import { describeFiles } from './convert.js';
import { action, choiceFlag, flag, newCommand, numberFlag, required } from './flags.js';

const SHAPES = Object.keys(SYNTH_SHAPES) as SynthShape[];

function shapeLine(shape: SynthShape): string {
  const p = SYNTH_SHAPES[shape];
  return `  ${shape.padEnd(12)} dim ${p.dim}, hidden ${p.hiddenDim}, ${p.nLayers} layers, ${p.nHeads} heads, ` +
    `${p.nKvHeads ?? p.nHeads} kv heads, vocab ${p.vocabSize}, seq ${p.maxSeqLen}`;
}

const DESCRIPTION = `Writes a model of random weights (seeded, so the same seed writes the same bytes) and a
tokenizer beside it, ready for \`octoserve generate --model PATH\`.`;

interface SynthFlags {
  shape?: SynthShape;
  format?: 'llama2c' | 'hf';
  out?: string;
  seed?: number;
  tokenizer?: string;
}

export function synthCommand(): Command {
  const cmd = newCommand('synth', {
    usage: '--shape SHAPE --format FMT --out PATH [options]',
    summary: 'write a seeded random-weight model of a named shape (tiny, gqa, stories15m, stories110m)',
    description: DESCRIPTION,
    epilog: `shapes:\n${SHAPES.map(shapeLine).join('\n')}`,
  })
    .addOption(choiceFlag('--shape SHAPE', `one of ${SHAPES.join(', ')} (see shapes below)`, SHAPES))
    .addOption(choiceFlag('--format FMT', 'llama2c (a .bin) or hf (a directory: config.json + model.safetensors)', ['llama2c', 'hf']))
    .addOption(flag('--out PATH', 'for llama2c a .bin file, or a directory that gets model.bin; for hf a directory'))
    .addOption(numberFlag('--seed S', 'seed of the weights (default 0)', { min: 0, integer: true }))
    .addOption(flag('--tokenizer FILE', "the tokenizer to copy beside the model (e.g. Llama 2's tokenizer.bin for the 32000-entry shapes). " +
      "Default: a synthesized byte-level tokenizer of the shape's vocabulary size"));
  return action<SynthFlags>(cmd, async (flags) => {
    const shape = required(flags.shape, 'shape', `one of ${SHAPES.join(', ')}`);
    const format = required(flags.format, 'format', 'one of llama2c, hf');
    const out = required(flags.out, 'out');
    const seed = flags.seed ?? 0;
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

    const tokenizer = flags.tokenizer;
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
  });
}
