// `octoserve generate`: run the reference engine on one prompt and print the text (or JSON), or send it to a running cluster.
import type { Command } from 'commander';
import { Cluster, ClusterMedusaBackend, newClusterToken, ClusterTokenSource, percentile, type StepTimings } from '@octoserve/coordinator';
import {
  ReferenceEngine, Sampler, WEIGHT_FORMATS, checkPromptFits, generate, generateFrom, openModel, stopTokenIds, type GenerateResult, type LoadedModel,
  type WeightFormat,
} from '@octoserve/model';
import {
  ReferenceMedusaBackend, loadMedusa, medusaGenerate, treeLimits, type AcceptanceMode, type MedusaBackend, type MedusaTree,
} from '@octoserve/medusa';
import type { Fabric, SpinSetting } from '@octoserve/collectives';
import { UsageError } from '../errors.js';
import { fabricFlag, spinFlag } from './fabric-flag.js';
import { action, choiceFlag, flag, newCommand, numberFlag } from './flags.js';
import { generateOnCluster, type RequestFlags } from './generate-cluster.js';
import { WORKER_COMMAND } from './worker-command.js';

const DESCRIPTION = `Runs one prompt on the single-process reference engine, or with --tp N on a tensor-parallel
cluster of N local worker processes (each holds 1/N of every layer and they all-reduce over
gRPC). Greedy output is the same either way. Without --json the prompt is echoed and the
continuation streamed to stdout as it is generated (as llama2.c's run prints it), and a stats
line goes to stderr. With --cluster the prompt goes to a running cluster instead (see --cluster).`;

const EPILOG = `Generation stops at the model's stop tokens (BOS and EOS for llama2.c models); the stop token
is not printed. stats: tokens = generated tokens, wall_ms = prefill + decode time,
tok_per_s = tokens / wall time.`;

interface GenerateFlags extends RequestFlags {
  model?: string;
  prompt?: string;
  tokenizer?: string;
  tp?: number;
  load?: 'read' | 'upload';
  weights?: WeightFormat;
  fabric?: Fabric;
  spinUs?: SpinSetting;
  verbose?: boolean;
  medusa?: string;
  medusaChoices?: string;
  acceptance?: AcceptanceMode;
  cluster?: string;
  json?: boolean;
}

interface Sampling { temperature: number; topK: number; topP: number; seed: number }
type Run = (promptIds: number[], stopIds: number[], maxTokens: number, onToken?: (t: number, p: number) => void)
  => Promise<{ result: GenerateResult; extra: Record<string, number | number[]> }>;

/** --medusa and its options, for the reference engine. */
interface MedusaFlags { dir: string; choices: string | undefined; acceptance: AcceptanceMode }

/** Generation on the reference engine, with Medusa when `medusa` is given. */
async function withReference(model: LoadedModel, s: Sampling, medusa: MedusaFlags | null, weights: WeightFormat, body: (run: Run, maxSeqLen: number) => Promise<void>): Promise<void> {
  const engine = ReferenceEngine.fromCheckpoint(model.checkpoint, undefined, { weights });
  model.checkpoint.close();
  if (medusa !== null) {
    const { heads, tree } = loadMedusa(engine.config, { dir: medusa.dir, choices: medusa.choices });
    await body(medusaRun(new ReferenceMedusaBackend(engine.transformer, heads), tree, medusa, s), engine.maxSeqLen);
    return;
  }
  const sampler = new Sampler(engine.config.vocabSize, s);
  await body(async (promptIds, stopIds, maxTokens, onToken) =>
    ({ result: await generate(engine, promptIds, { maxTokens, sampler, stopIds, onToken }), extra: {} }), engine.maxSeqLen);
}

/** What a cluster's step timings add to the stats: step p50, all-reduce time and count per step. */
function stepStats(t: StepTimings): Record<string, number> {
  return {
    step_ms_p50: percentile(t.wallMs, 50), allreduces_per_step: t.allReducesPerStep,
    allreduce_ms_per_step: t.allReduceMs.reduce((a, b) => a + b, 0) / Math.max(1, t.wallMs.length),
  };
}

/** A Run decoding with Medusa on `backend`; its stats add steps, tokens per step, acceptance per depth and drafts. */
function medusaRun(backend: MedusaBackend, tree: MedusaTree, medusa: MedusaFlags, s: Sampling, timings?: StepTimings): Run {
  return async (promptIds, stopIds, maxTokens, onToken) => {
    const result = await medusaGenerate(backend, promptIds, {
      tree, acceptance: medusa.acceptance, temperature: s.temperature, seed: s.seed, maxTokens, stopIds, onToken,
    });
    const { steps, tokensPerStep, acceptedPerDepth, drafts } = result.stats;
    const cluster = timings === undefined ? {} : stepStats(timings);
    return { result, extra: { ...cluster, steps, tokens_per_step: tokensPerStep, accepted_per_depth: acceptedPerDepth, drafts } };
  };
}

/** Generation on N local workers (with Medusa when asked); the cluster is stopped (no worker left behind) whatever happens. */
/** How `generate --tp` starts its cluster. */
interface ClusterChoice { tp: number; load: string; weights: WeightFormat; verbose: boolean; fabric: Fabric | undefined; spinUs: SpinSetting | undefined }

async function withCluster(model: LoadedModel, c: ClusterChoice, s: Sampling, medusa: MedusaFlags | null, body: (run: Run, maxSeqLen: number) => Promise<void>): Promise<void> {
  const { tp, load, weights, verbose, fabric, spinUs } = c;
  const modelPath = model.checkpoint.path;
  const tree = medusa === null ? undefined : loadMedusa(model.checkpoint.config, { dir: medusa.dir, choices: medusa.choices }).tree;
  model.checkpoint.close();
  const log = verbose ? (line: string) => process.stderr.write(`${line}\n`) : undefined;
  const cluster = await Cluster.start({
    modelPath, tp, workerCommand: WORKER_COMMAND, clusterToken: newClusterToken(), loadMode: load === 'upload' ? 'upload' : 'read', weights, log,
    ...(fabric === undefined ? {} : { fabric }), ...(spinUs === undefined ? {} : { spinUs }),
    ...(medusa === null || tree === undefined ? {} : { medusa: { path: medusa.dir, topK: treeLimits(tree).topK }, maxPicked: treeLimits(tree).maxPicked }),
  });
  const onSignal = (): void => { void cluster.close().finally(() => process.exit(130)); };
  process.once('SIGINT', onSignal);
  try {
    if (medusa !== null && tree !== undefined) {
      const backend = new ClusterMedusaBackend(cluster, 1, s.seed);
      await body(medusaRun(backend, tree, medusa, s, backend.timings), cluster.config.maxSeqLen);
      return;
    }
    await body(async (promptIds, stopIds, maxTokens, onToken) => {
      const source = new ClusterTokenSource(cluster, 1, s);
      const result = await generateFrom(source, promptIds, { maxTokens, stopIds, onToken });
      const steps = source.timings.wallMs.length;
      return { result, extra: { steps, tokens_per_step: steps > 0 ? result.tokenIds.length / steps : 0, ...stepStats(source.timings) } };
    }, cluster.config.maxSeqLen);
  } finally {
    process.removeListener('SIGINT', onSignal);
    await cluster.close();
  }
}

export function generateCommand(): Command {
  const cmd = newCommand('generate', {
    usage: '[--model PATH] --prompt TEXT [options]\n       octoserve generate --cluster ADDR --prompt TEXT [sampling options] [--json]',
    summary: 'generate text from a prompt (reference engine, --tp N local workers, or --cluster ADDR)',
    description: DESCRIPTION,
    epilog: EPILOG,
  })
    .addOption(flag('--model PATH', 'an HF directory (config.json + safetensors), a directory holding a llama2.c .bin and its tokenizer, ' +
      'or a llama2.c .bin file (tokenizer.bin, tok<vocab>.bin, tok512.bin or tokenizer.json beside it). Default: $OCTOSERVE_MODEL, else ' +
      'the stories260K octoserve carries (packages/model/models/stories260K).'))
    .addOption(flag('--prompt TEXT', 'the prompt (default: empty, i.e. BOS only)'))
    .addOption(numberFlag('--max-tokens N', 'most tokens to generate (default 256); generation also stops when the context is full ' +
      "(prompt + generated positions <= the model's seq_len)", { min: 0, integer: true }))
    .addOption(numberFlag('--temperature T', '0 is greedy argmax (default 0); > 0 samples from softmax(logits / T)', { min: 0 }))
    .addOption(numberFlag('--top-k K', 'sample only among the K most likely tokens (default 0: no limit)', { min: 0, integer: true }))
    .addOption(numberFlag('--top-p P', 'sample only within the smallest set of tokens whose probability reaches P (default 1: no limit)',
      { min: Number.MIN_VALUE, max: 1 }))
    .addOption(numberFlag('--seed S', "seed of the sampler's random numbers (default: from the clock); the same seed gives the same tokens",
      { min: 0, integer: true }))
    .addOption(flag('--tokenizer FILE', 'use this tokenizer instead of the one beside the model'))
    .addOption(numberFlag('--tp N', 'run on N local worker processes (1-8); without it, the reference engine. On a cluster, --temperature ' +
      'samples among the --top-k (default and most: 64) most likely tokens, renormalised exactly', { min: 1, max: 8, integer: true }))
    .addOption(choiceFlag('--load MODE', "with --tp: read (default; each worker reads only its slices of the file) or upload (the " +
      'coordinator streams each worker its slices)', ['read', 'upload']))
    .addOption(choiceFlag('--weights W', 'matmul weights: f32 (default, as read), q8 or q4 (block-quantized at load, blocks of 32 along ' +
      'the input dimension; the reference engine runs the same dequantized weights, so greedy output is the same with or without --tp), ' +
      'q8a8 or q4a8 (the same weights, with int8 activations on the workers: faster, agreeing with the reference on most tokens)', WEIGHT_FORMATS))
    .addOption(flag('--verbose', "with --tp: show the workers' and coordinator's log lines"))
    .addOption(fabricFlag())
    .addOption(spinFlag())
    .addOption(flag('--medusa DIR', "decode with Medusa heads (a directory in FasterDecoding's or vLLM's layout, e.g. from " +
      '`octoserve medusa train`); with --tp the workers hold the heads vocabulary-parallel'))
    .addOption(flag('--medusa-choices C', "the candidate tree: mc_sim_7b_63 (the default, cut to the heads' count), stories260k, " +
      "stories260k-small, chain-K (each head's top guess, K deep) or a JSON list of paths of per-head ranks, e.g. [[0],[1],[0,0]]"))
    .addOption(choiceFlag('--acceptance A', 'greedy (default at --temperature 0) is lossless: exactly the tokens of plain greedy decoding. ' +
      'typical (default at --temperature > 0) accepts a guess x when p(x) > min(0.09, 0.3 exp(-H(p))), p = softmax(logits / T), and ' +
      'samples the rest with --seed; it is not lossless (and ignores --top-k / --top-p)', ['greedy', 'typical']))
    .addOption(flag('--cluster ADDR', 'send the prompt to the running cluster at ADDR (host:port of a coordinator, e.g. from ' +
      '`octoserve launch`) instead of running a model here; only this flag does it, $OCTOSERVE_CLUSTER does not. The cluster\'s own ' +
      'model, tp and Medusa apply, so --model, --tokenizer, --tp, --load, --weights, --fabric, --spin-us, --verbose, --medusa, --medusa-choices and --acceptance cannot ' +
      'be given with it. The sampling flags go with the request; those not given take the cluster\'s defaults (--seed: chosen by the ' +
      'cluster and shown in the stats). The output is the same; the prompt is echoed as given, and stats also has "queue_ms", "steps", ' +
      '"tokens_per_step", "seed" and "coordinator" (the host:port that ran it)'))
    .addOption(flag('--json', 'print one JSON object instead of streaming text: {"prompt_token_ids", "token_ids" (generated only), ' +
      '"text" (prompt + continuation), "finish_reason" ("length" | "stop"), "stats": {"tokens", "wall_ms", "tok_per_s"}}; with --tp, ' +
      'stats also has "steps", "tokens_per_step", "step_ms_p50", "allreduce_ms_per_step"; with --medusa, "steps", "tokens_per_step" ' +
      '(tokens per decode step after the prefill), "accepted_per_depth" (share of steps that accepted a guess at depth 1, 2, ...) and ' +
      '"drafts" (guesses verified)'));
  return action<GenerateFlags>(cmd, async (flags) => {
    if (flags.cluster !== undefined) return generateOnCluster(flags.cluster, { ...flags });
    const prompt = flags.prompt ?? '';
    const maxTokens = flags.maxTokens ?? 256;
    const temperature = flags.temperature ?? 0;
    const topK = flags.topK ?? 0;
    const topP = flags.topP ?? 1;
    const seed = flags.seed ?? Date.now() % 2 ** 31;
    const json = flags.json === true;
    const tp = flags.tp ?? 0;
    const load = flags.load ?? 'read';
    const weights = flags.weights ?? 'f32';
    const sampling = { temperature, topK, topP, seed };
    const medusaDir = flags.medusa;
    if (medusaDir === undefined && (flags.medusaChoices !== undefined || flags.acceptance !== undefined)) {
      throw new UsageError('--medusa-choices and --acceptance need --medusa DIR');
    }
    const acceptance = flags.acceptance ?? (temperature > 0 ? 'typical' : 'greedy');
    if (medusaDir !== undefined && acceptance === 'greedy' && temperature > 0) throw new UsageError(`--acceptance greedy needs --temperature 0, got ${temperature}; use --acceptance typical to sample`);
    if (medusaDir !== undefined && acceptance === 'typical' && temperature === 0) throw new UsageError('--acceptance typical needs --temperature > 0');
    if (medusaDir !== undefined && (topK !== 0 || topP !== 1)) throw new UsageError('--top-k and --top-p do not apply with --medusa');
    const medusa = medusaDir === undefined ? null : { dir: medusaDir, choices: flags.medusaChoices, acceptance };

    const model = await openModel({ model: flags.model, tokenizer: flags.tokenizer });
    const { tokenizer } = model;
    const config = model.checkpoint.config;
    const promptIds = tokenizer.encode(prompt, { bos: true });
    checkPromptFits(promptIds.length, config.maxSeqLen);
    const stopIds = stopTokenIds(tokenizer, config);
    const out = process.stdout;
    const run = tp === 0
      ? (body: (run: Run, maxSeqLen: number) => Promise<void>) => withReference(model, sampling, medusa, weights, body)
      : (body: (run: Run, maxSeqLen: number) => Promise<void>) =>
        withCluster(model, { tp, load, weights, verbose: flags.verbose === true, fabric: flags.fabric, spinUs: flags.spinUs }, sampling, medusa, body);
    await run(async (generateOn) => {
      if (!json) {
        for (let i = 1; i < promptIds.length; i++) out.write(tokenizer.decodePiece(promptIds[i - 1]!, promptIds[i]!));
      }
      const onToken = json ? undefined : (token: number, prev: number) => { out.write(tokenizer.decodePiece(prev, token)); };
      const { result, extra } = await generateOn(promptIds, stopIds, maxTokens, onToken);
      const { tokens, wallMs, tokPerS } = result.stats;
      if (json) {
        const text = tokenizer.decode([...promptIds.slice(1), ...result.tokenIds], promptIds[0]);
        out.write(JSON.stringify({
          prompt_token_ids: result.promptTokenIds,
          token_ids: result.tokenIds,
          text,
          finish_reason: result.finishReason,
          stats: { tokens, wall_ms: wallMs, tok_per_s: tokPerS, ...extra },
        }) + '\n');
      } else {
        out.write('\n');
        const num = (v: number): string => (Number.isInteger(v) ? String(v) : v.toFixed(3));
        const more = Object.entries(extra).map(([k, v]) => `, ${k} ${Array.isArray(v) ? v.map(num).join('/') : num(v)}`).join('');
        process.stderr.write(`achieved tok/s: ${tokPerS.toFixed(1)} (${tokens} tokens in ${wallMs.toFixed(1)} ms, ` +
          `prompt ${promptIds.length} tokens, finish: ${result.finishReason}, seed ${seed}${tp > 0 ? `, tp ${tp}` : ''}${more})\n`);
      }
    });
    return 0;
  });
}
