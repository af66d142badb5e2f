// `octoserve medusa <subcommand>`: Medusa heads for a model. Today: `train`.
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { loadWeights, openModel, progressBar, stopTokenIds, Transformer, type ProgressBar } from '@octoserve/model';
import { MEDUSA_HEADS_FILE, loadMedusaHeads, trainMedusaHeads, writeMedusaHeads, type TrainProgress } from '@octoserve/medusa';
import { action, commandGroup, flag, newCommand, numberFlag, required } from './flags.js';

const TRAIN_DESCRIPTION = `Trains Medusa heads for a model by self-distillation: the model writes its own training text
(stories that open with a few sampled tokens and go on greedily, or sampled at temperature 0.7
or 1), the final hidden state after every token is recorded, and head k learns the token k + 2
positions after that hidden state's token (the model's own LM head predicts the next one; head 0
the one after). Cross-entropy with loss weight 0.8^k, Adam, a cosine learning-rate schedule.
Each head starts as the model's LM head (a zero residual layer and a copy of the LM head), which
makes training short. The base model is not changed.

Writes FasterDecoding/Medusa's layout: DIR/config.json (medusa_num_heads, medusa_num_layers,
hidden_size, vocab_size, base_model_name_or_path) and DIR/${MEDUSA_HEADS_FILE}. Prints each head's
top-1 and top-5 accuracy on held-out text the model wrote with another seed; a progress bar goes
to stderr. The same seed and options write the same heads.`;

const TRAIN_EPILOG = `Use the heads with: octoserve generate --model PATH --medusa DIR [--medusa-choices NAME|JSON]
[--acceptance greedy|typical]. Greedy acceptance is lossless (exactly the tokens of greedy
decoding without Medusa); typical acceptance samples with --temperature and is not lossless.`;

interface TrainFlags {
  model?: string;
  out?: string;
  heads?: number;
  layers?: number;
  tokens?: number;
  epochs?: number;
  lr?: number;
  batch?: number;
  seed?: number;
  tokenizer?: string;
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

const PHASES: Record<TrainProgress['phase'], string> = { generate: 'writing text (tokens)', train: 'training (steps)', evaluate: 'held-out accuracy (tokens)' };

function trainCommand(): Command {
  const cmd = newCommand('train', {
    usage: '--model PATH --out DIR [options]',
    summary: 'train Medusa heads for a model by self-distillation',
    description: TRAIN_DESCRIPTION,
    epilog: TRAIN_EPILOG,
  })
    .addOption(flag('--model PATH', 'the base model (as for `octoserve generate`; a tokenizer beside it gives the stop tokens). Default: $OCTOSERVE_MODEL, else stories260K'))
    .addOption(flag('--out DIR', 'where the heads go (created if missing)'))
    .addOption(numberFlag('--heads K', 'heads to train (default 4); head k guesses the token k + 2 ahead', { min: 1, max: 16, integer: true }))
    .addOption(numberFlag('--layers L', 'residual layers per head: x <- x + SiLU(W x + b), L times (default 1)', { min: 0, max: 8, integer: true }))
    .addOption(numberFlag('--tokens N', 'tokens of self-written training text (default 100000); held-out text is a tenth as much again. ' +
      'stories260K: about 0.45 ms per token to write and 0.65 ms per token and epoch to train, on one core', { min: 1000, integer: true }))
    .addOption(numberFlag('--epochs E', 'passes over the training text (default 1)', { min: 1, integer: true }))
    .addOption(numberFlag('--lr LR', 'peak Adam learning rate (default 0.02)', { min: Number.MIN_VALUE }))
    .addOption(numberFlag('--batch B', 'examples per Adam step (default 64)', { min: 1, integer: true }))
    .addOption(numberFlag('--seed S', 'seed of the text and the shuffles (default 0)', { min: 0, integer: true }))
    .addOption(flag('--tokenizer FILE', 'use this tokenizer instead of the one beside the model'));
  return action<TrainFlags>(cmd, async (flags) => {
    const out = resolve(required(flags.out, 'out'));

    const model = await openModel({ model: flags.model, tokenizer: flags.tokenizer });
    const config = model.checkpoint.config;
    const stopIds = stopTokenIds(model.tokenizer, config);
    const weights = loadWeights(model.checkpoint);
    const basePath = model.checkpoint.path;
    model.checkpoint.close();

    // a bar per phase; not on a terminal, a line per quarter of each
    let bar: ProgressBar | undefined;
    let phase: TrainProgress['phase'] | undefined;
    const start = performance.now();
    const result = trainMedusaHeads(new Transformer(weights), {
      numHeads: flags.heads, numLayers: flags.layers, tokens: flags.tokens, epochs: flags.epochs, lr: flags.lr, batchSize: flags.batch, seed: flags.seed, stopIds,
      onProgress: (p) => {
        if (p.phase !== phase) {
          bar?.done();
          phase = p.phase;
          bar = progressBar(PHASES[p.phase], p.total, { width: 28, logEvery: 0.25 });
        }
        bar?.update(p.done, p.loss === undefined ? undefined : `loss ${p.loss.toFixed(3)}`);
      },
    });
    bar?.done();
    const seconds = (performance.now() - start) / 1000;
    const { numHeads, numLayers, epochs, lr, batchSize, seed } = result.settings;

    writeMedusaHeads(out, result.heads, {
      baseModel: basePath,
      extra: {
        octoserve_training: {
          tokens: result.trainTokens, held_out_tokens: result.heldOutTokens, epochs, lr, batch: batchSize, seed,
          held_out_top1: result.accuracy.map((a) => Number(a.top1.toFixed(4))), held_out_top5: result.accuracy.map((a) => Number(a.top5.toFixed(4))),
        },
      },
    });
    // read back what was written, as generate will
    loadMedusaHeads(out, { baseVocab: config.vocabSize, baseDim: config.dim, log: (line) => process.stderr.write(line + '\n') });

    const o = process.stdout;
    o.write(`trained ${numHeads} Medusa heads x ${numLayers} layer${numLayers === 1 ? '' : 's'} for ${basePath} in ${seconds.toFixed(1)} s ` +
      `(writing text ${(result.generateMs / 1000).toFixed(1)} s, training ${(result.trainMs / 1000).toFixed(1)} s, ` +
      `${result.trainTokens.toLocaleString('en-US')} tokens x ${epochs} epoch${epochs === 1 ? '' : 's'})\n`);
    o.write(`held-out accuracy (${result.heldOutTokens.toLocaleString('en-US')} tokens):\n`);
    o.write(`  head  predicts  top-1   top-5\n`);
    result.accuracy.forEach((a, k) => o.write(`  ${String(k).padStart(4)}  t+${String(k + 2).padEnd(6)}  ${pct(a.top1).padStart(6)}  ${pct(a.top5).padStart(6)}\n`));
    o.write(`wrote ${join(out, 'config.json')} and ${join(out, MEDUSA_HEADS_FILE)}\n`);
    return 0;
  });
}

export function medusaCommand(): Command {
  return commandGroup('medusa', 'Medusa heads: train (self-distillation)', [trainCommand()]);
}
