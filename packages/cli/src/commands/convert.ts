// `octoserve convert`: rewrite a checkpoint in another format (llama2.c .bin → HF directory by default).
import { copyFileSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { findTokenizer, openCheckpoint, writeHf, writeLlama2c, type DType } from '@octoserve/model';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { action, choiceFlag, flag, newCommand, required } from './flags.js';

const DESCRIPTION = `Rewrites a checkpoint in another format and copies its tokenizer beside the result, so that
\`octoserve generate --model OUT\` works on it. Converting to HF permutes the rows of wq and wk
from llama2.c's interleaved RoPE pairs to HF's rotate-half layout (and back the other way), so
both give the same tokens.`;

interface ConvertFlags {
  model?: string;
  out?: string;
  format?: 'hf' | 'llama2c';
  dtype?: DType;
  tokenizer?: string;
}

/** Copies the tokenizer (and an HF tokenizer's companion files) into `dir`; returns what it wrote. */
export function copyTokenizer(tokenizerPath: string, dir: string): string[] {
  const written: string[] = [];
  const companions = tokenizerPath.endsWith('.json') ? ['tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json'] : [];
  for (const src of [tokenizerPath, ...companions.map((n) => join(dirname(tokenizerPath), n))]) {
    if (src !== tokenizerPath && !existsSync(src)) continue;
    const dest = join(dir, basename(src));
    if (dest !== src) copyFileSync(src, dest);
    written.push(dest);
  }
  return written;
}

export function describeFiles(paths: readonly string[]): string {
  return paths.map((p) => `  ${p} (${statSync(p).size.toLocaleString('en-US')} bytes)`).join('\n');
}

export function convertCommand(): Command {
  const cmd = newCommand('convert', {
    usage: '--model PATH --out PATH [options]',
    summary: 'convert a checkpoint between llama2.c .bin and HF safetensors layouts',
    description: DESCRIPTION,
  })
    .addOption(flag('--model PATH', 'the source: an HF directory, a directory with a llama2.c .bin, or a .bin file'))
    .addOption(flag('--out PATH', 'the destination: a directory for --format hf; for --format llama2c a .bin file, or a directory that gets model.bin'))
    .addOption(choiceFlag('--format FMT', 'hf (default) or llama2c', ['hf', 'llama2c']))
    .addOption(choiceFlag('--dtype T', 'element type of HF safetensors: F32 (default), F16 or BF16', ['F32', 'F16', 'BF16']))
    .addOption(flag('--tokenizer FILE', 'the tokenizer to copy (default: the one found beside the source model)'));
  return action<ConvertFlags>(cmd, async (flags) => {
    const modelPath = required(flags.model, 'model');
    const out = required(flags.out, 'out');
    const format = flags.format ?? 'hf';
    const dtype = flags.dtype ?? 'F32';
    if (resolve(out) === resolve(modelPath)) throw new UsageError(`--out ${out} is the source model itself; choose another path`);
    const ckpt = openCheckpoint(modelPath);
    try {
      const tokenizerPath = findTokenizer(ckpt, flags.tokenizer);
      let written: string[];
      let outDir: string;
      if (format === 'hf') {
        outDir = out;
        written = writeHf(out, ckpt, { dtype });
      } else {
        const file = out.endsWith('.bin') ? out : join(out, 'model.bin');
        outDir = dirname(file);
        mkdirSync(outDir, { recursive: true });
        writeLlama2c(file, ckpt);
        written = [file];
      }
      written.push(...copyTokenizer(tokenizerPath, outDir));
      const c = ckpt.config;
      process.stdout.write(`converted ${ckpt.path} (${ckpt.format}, dim ${c.dim}, ${c.nLayers} layers, vocab ${c.vocabSize}) to ${format}:\n${describeFiles(written)}\n`);
    } finally {
      ckpt.close();
    }
    return 0;
  });
}
