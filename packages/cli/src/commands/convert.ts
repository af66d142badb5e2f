// `octoserve convert`: rewrite a checkpoint in another format (llama2.c .bin → HF directory by default).
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import {
  findTokenizer, GgufCheckpoint, ggufVocab, llama2cTokenizerFile, openCheckpoint, parseLlama2cTokenizer, writeGguf, writeHf, writeLlama2c,
  type DType, type Llama2cVocab,
} from '@octoserve/model';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { action, choiceFlag, flag, newCommand, required } from './flags.js';

const DESCRIPTION = `Rewrites a checkpoint in another format and copies its tokenizer beside the result, so that
\`octoserve generate --model OUT\` works on it. Converting to HF permutes the rows of wq and wk
from llama2.c's interleaved RoPE pairs to HF's rotate-half layout (and back the other way), so
both give the same tokens. Converting to GGUF (llama.cpp's format) writes the interleaved layout
llama.cpp expects, matrices as --dtype F32, F16, BF16, Q8_0 or Q4_0 (norms stay F32, and under Q8_0/Q4_0
a matrix whose rows are not whole 32-element blocks stays F32), with a llama2.c tokenizer embedded as
its SentencePiece vocabulary; a GGUF source's own vocabulary is written out as tokenizer.bin.`;

interface ConvertFlags {
  model?: string;
  out?: string;
  format?: 'hf' | 'llama2c' | 'gguf';
  dtype?: DType | 'Q8_0' | 'Q4_0';
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

/** The SentencePiece vocabulary in a llama2.c tokenizer file; undefined for an HF tokenizer.json. */
function llama2cVocab(path: string, vocabSize: number): Llama2cVocab | undefined {
  const bytes = readFileSync(path);
  if (path.endsWith('.json') || bytes[0] === 0x7b) return undefined;
  return parseLlama2cTokenizer(bytes, path, vocabSize);
}

export function describeFiles(paths: readonly string[]): string {
  return paths.map((p) => `  ${p} (${statSync(p).size.toLocaleString('en-US')} bytes)`).join('\n');
}

export function convertCommand(): Command {
  const cmd = newCommand('convert', {
    usage: '--model PATH --out PATH [options]',
    summary: 'convert a checkpoint between llama2.c .bin, HF safetensors and GGUF layouts',
    description: DESCRIPTION,
  })
    .addOption(flag('--model PATH', 'the source: an HF directory, a directory with a llama2.c .bin, a .bin file or a .gguf file'))
    .addOption(flag('--out PATH', 'the destination: a directory for --format hf; for llama2c (gguf) a .bin (.gguf) file, or a directory that gets model.bin (model.gguf)'))
    .addOption(choiceFlag('--format FMT', 'hf (default), llama2c or gguf', ['hf', 'llama2c', 'gguf']))
    .addOption(choiceFlag('--dtype T', 'element type of HF safetensors: F32 (default), F16 or BF16; of GGUF matrices also Q8_0 or Q4_0', ['F32', 'F16', 'BF16', 'Q8_0', 'Q4_0']))
    .addOption(flag('--tokenizer FILE', 'the tokenizer to copy (default: the one found beside the source model)'));
  return action<ConvertFlags>(cmd, async (flags) => {
    const modelPath = required(flags.model, 'model');
    const out = required(flags.out, 'out');
    const format = flags.format ?? 'hf';
    const dtype = flags.dtype ?? 'F32';
    if (resolve(out) === resolve(modelPath)) throw new UsageError(`--out ${out} is the source model itself; choose another path`);
    if ((dtype === 'Q8_0' || dtype === 'Q4_0') && format !== 'gguf') throw new UsageError(`--dtype ${dtype} is for --format gguf only`);
    const ckpt = openCheckpoint(modelPath);
    try {
      // a GGUF source's own vocabulary, else the tokenizer file beside the source (or --tokenizer)
      const embedded = ckpt instanceof GgufCheckpoint && ckpt.hasTokenizer() && flags.tokenizer === undefined ? ckpt : undefined;
      const tokenizerPath = embedded === undefined ? findTokenizer(ckpt, flags.tokenizer) : undefined;
      let written: string[];
      let outDir: string;
      if (format === 'hf') {
        outDir = out;
        written = writeHf(out, ckpt, { dtype: dtype as DType });
      } else {
        const ext = format === 'gguf' ? '.gguf' : '.bin';
        const file = out.endsWith(ext) ? out : join(out, `model${ext}`);
        outDir = dirname(file);
        mkdirSync(outDir, { recursive: true });
        written = [file];
        if (format === 'llama2c') writeLlama2c(file, ckpt);
      }
      if (format === 'gguf') {
        // the vocabulary goes inside; an HF tokenizer.json cannot, and is copied beside the file
        const vocab = embedded !== undefined ? ggufVocab(embedded.metadata, embedded.path) : llama2cVocab(tokenizerPath!, ckpt.config.vocabSize);
        writeGguf(written[0]!, ckpt, { type: dtype, name: basename(modelPath), ...(vocab === undefined ? {} : { vocab }) });
        if (vocab === undefined) written.push(...copyTokenizer(tokenizerPath!, outDir));
      } else if (embedded !== undefined) {
        const path = join(outDir, 'tokenizer.bin');
        writeFileSync(path, llama2cTokenizerFile(ggufVocab(embedded.metadata, embedded.path)));
        written.push(path);
      } else {
        written.push(...copyTokenizer(tokenizerPath!, outDir));
      }
      const c = ckpt.config;
      process.stdout.write(`converted ${ckpt.path} (${ckpt.format}, dim ${c.dim}, ${c.nLayers} layers, vocab ${c.vocabSize}) to ${format}:\n${describeFiles(written)}\n`);
    } finally {
      ckpt.close();
    }
    return 0;
  });
}
