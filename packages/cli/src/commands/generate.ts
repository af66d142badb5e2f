// `octoserve generate`: run the reference engine on one prompt and print the text (or JSON), or send it to a running cluster.
import { fileURLToPath } from 'node:url';
import { DEFAULT_RANK_FLAGS } from '@octoserve/collectives';
import { Cluster, ClusterMedusaBackend, newClusterToken, ClusterTokenSource, percentile, type StepTimings } from '@octoserve/coordinator';
import {
  ReferenceEngine, Sampler, checkPromptFits, generate, generateFrom, openModel, type GenerateResult, type LoadedModel, type ModelConfig,
} from '@octoserve/model';
import {
  MC_SIM_7B_63, ReferenceMedusaBackend, buildTree, loadMedusaHeads, medusaGenerate, resolveChoices, truncateChoices, type AcceptanceMode, type MedusaBackend, type MedusaHeads, type MedusaTree,
} from '@octoserve/medusa';
import type { Command } from './command.js';
import { choiceFlag, numberFlag, runWithFlags, stringFlag } from './flags.js';
import { REQUEST_OPTIONS, generateOnCluster } from './generate-cluster.js';
import { UsageError } from '../errors.js';

const HELP = `usage: octoserve generate [--model PATH] --prompt TEXT [options]
       octoserve generate --cluster ADDR --prompt TEXT [sampling options] [--json]

Runs one prompt on the single-process reference engine, or with --tp N on a tensor-parallel
cluster of N local worker processes (each holds 1/N of every layer and they all-reduce over
gRPC). Greedy output is the same either way. Without --json the prompt is echoed and the
continuation streamed to stdout as it is generated (as llama2.c's run prints it), and a stats
line goes to stderr. With --cluster the prompt goes to a running cluster instead (see --cluster).

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
  --tp N              run on N local worker processes (1-8); without it, the reference engine.
                      On a cluster, --temperature samples among the --top-k (default and most:
                      64) most likely tokens, renormalised exactly
  --load MODE         with --tp: read (default; each worker reads only its slices of the file)
                      or upload (the coordinator streams each worker its slices)
  --verbose           with --tp: show the workers' and coordinator's log lines
  --medusa DIR        decode with Medusa heads (a directory in FasterDecoding's or vLLM's layout,
                      e.g. from \`octoserve medusa train\`); with --tp the workers hold the heads
                      vocabulary-parallel
  --medusa-choices C  the candidate tree: mc_sim_7b_63 (the default, cut to the heads' count),
                      stories260k, stories260k-small, chain-K (each head's top guess, K deep)
                      or a JSON list of paths of per-head ranks, e.g. [[0],[1],[0,0]]
  --acceptance A      greedy (default at --temperature 0) is lossless: exactly the tokens of plain
                      greedy decoding. typical (default at --temperature > 0) accepts a guess x when
                      p(x) > min(0.09, 0.3 exp(-H(p))), p = softmax(logits / T), and samples the
                      rest with --seed; it is not lossless (and ignores --top-k / --top-p)
  --cluster ADDR      send the prompt to the running cluster at ADDR (host:port of a coordinator,
                      e.g. from \`octoserve launch\`) instead of running a model here; only this
                      flag does it, $OCTOSERVE_CLUSTER does not. The cluster's own model, tp and
                      Medusa apply, so --model, --tokenizer, --tp, --load, --verbose, --medusa,
                      --medusa-choices and --acceptance cannot be given with it. The sampling flags
                      go with the request; those not given take the cluster's defaults (--seed:
                      chosen by the cluster and shown in the stats). The output is the same; the
                      prompt is echoed as given, and stats also has "queue_ms", "steps",
                      "tokens_per_step", "seed" and "coordinator" (the host:port that ran it)
  --json              print one JSON object instead of streaming text:
                      {"prompt_token_ids", "token_ids" (generated only), "text" (prompt +
                      continuation), "finish_reason" ("length" | "stop"),
                      "stats": {"tokens", "wall_ms", "tok_per_s"}}; with --tp, stats also has
                      "steps", "tokens_per_step", "step_ms_p50", "allreduce_ms_per_step"; with
                      --medusa, "steps", "tokens_per_step" (tokens per decode step after the
                      prefill), "accepted_per_depth" (share of steps that accepted a guess at
                      depth 1, 2, ...) and "drafts" (guesses verified)
  -h, --help          show this help

Generation stops at the model's stop tokens (BOS and EOS for llama2.c models); the stop token
is not printed. stats: tokens = generated tokens, wall_ms = prefill + decode time,
tok_per_s = tokens / wall time.`;

const OPTIONS = {
  ...REQUEST_OPTIONS,
  model: { type: 'string' },
  tokenizer: { type: 'string' },
  tp: { type: 'string' },
  load: { type: 'string' },
  verbose: { type: 'boolean' },
  medusa: { type: 'string' },
  'medusa-choices': { type: 'string' },
  acceptance: { type: 'string' },
  json: { type: 'boolean' },
  cluster: { type: 'string' },
} as const;

/** The `octoserve` entry point, which the cluster runs as `octoserve worker`. */
export const CLI_MAIN = fileURLToPath(new URL('../main.js', import.meta.url));

/**
 * How a local cluster starts its workers. The V8 flag lets the small hot functions of the
 * step loop and the all-reduce reach optimised code after a few steps instead of thousands.
 */
export const WORKER_COMMAND: readonly string[] = [process.execPath, ...DEFAULT_RANK_FLAGS, CLI_MAIN, 'worker'];

interface Sampling { temperature: number; topK: number; topP: number; seed: number }
type Run = (promptIds: number[], stopIds: number[], maxTokens: number, onToken?: (t: number, p: number) => void)
  => Promise<{ result: GenerateResult; extra: Record<string, number | number[]> }>;

/** --medusa and its options, for the reference engine. */
interface MedusaFlags { dir: string; choices: string | undefined; acceptance: AcceptanceMode }

/** Generation on the reference engine, with Medusa when `medusa` is given. */
async function withReference(model: LoadedModel, s: Sampling, medusa: MedusaFlags | null, body: (run: Run, maxSeqLen: number) => Promise<void>): Promise<void> {
  const engine = ReferenceEngine.fromCheckpoint(model.checkpoint);
  model.checkpoint.close();
  if (medusa !== null) {
    const { heads, tree } = loadMedusa(engine.config, medusa);
    await body(medusaRun(new ReferenceMedusaBackend(engine.transformer, heads), tree, medusa, s), engine.maxSeqLen);
    return;
  }
  const sampler = new Sampler(engine.config.vocabSize, s);
  await body(async (promptIds, stopIds, maxTokens, onToken) =>
    ({ result: await generate(engine, promptIds, { maxTokens, sampler, stopIds, onToken }), extra: {} }), engine.maxSeqLen);
}

/** The most children one tree node has: the logits typical acceptance reads at that node. */
export function widestNode(tree: MedusaTree): number {
  const children = new Int32Array(tree.nodeCount);
  for (let i = 1; i < tree.nodeCount; i++) { const p = tree.parent[i] as number; children[p] = (children[p] ?? 0) + 1; }
  return Math.max(1, ...children);
}

/** The heads of --medusa and the candidate tree of --medusa-choices (default: mc_sim_7b_63 cut to the heads' count). */
export function loadMedusa(config: ModelConfig, medusa: Pick<MedusaFlags, 'dir' | 'choices'>): { heads: MedusaHeads; tree: MedusaTree } {
  const heads = loadMedusaHeads(medusa.dir, { baseVocab: config.vocabSize, baseDim: config.dim });
  const choices = medusa.choices === undefined ? truncateChoices(MC_SIM_7B_63, heads.numHeads) : resolveChoices(medusa.choices);
  return { heads, tree: buildTree(choices, { numHeads: heads.numHeads }) };
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
async function withCluster(model: LoadedModel, tp: number, load: string, verbose: boolean, s: Sampling, medusa: MedusaFlags | null, body: (run: Run, maxSeqLen: number) => Promise<void>): Promise<void> {
  const modelPath = model.checkpoint.path;
  const tree = medusa === null ? undefined : loadMedusa(model.checkpoint.config, medusa).tree;
  model.checkpoint.close();
  const log = verbose ? (line: string) => process.stderr.write(`${line}\n`) : undefined;
  const cluster = await Cluster.start({
    modelPath, tp, workerCommand: WORKER_COMMAND, clusterToken: newClusterToken(), loadMode: load === 'upload' ? 'upload' : 'read', log,
    ...(medusa === null || tree === undefined ? {} : { medusa: { path: medusa.dir, topK: Math.max(...tree.topK) }, maxPicked: widestNode(tree) }),
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

export const generateCommand: Command = {
  summary: 'generate text from a prompt (reference engine, --tp N local workers, or --cluster ADDR)',
  run: (argv) => runWithFlags('generate', HELP, argv, OPTIONS, async (flags) => {
    const cluster = stringFlag(flags, 'cluster');
    if (cluster !== undefined) return generateOnCluster(cluster, flags);
    const prompt = stringFlag(flags, 'prompt') ?? '';
    const maxTokens = numberFlag(flags, 'max-tokens', 256, { min: 0, integer: true });
    const temperature = numberFlag(flags, 'temperature', 0, { min: 0 });
    const topK = numberFlag(flags, 'top-k', 0, { min: 0, integer: true });
    const topP = numberFlag(flags, 'top-p', 1, { min: Number.MIN_VALUE, max: 1 });
    const seed = numberFlag(flags, 'seed', Date.now() % 2 ** 31, { min: 0, integer: true });
    const json = flags.json === true;

    const tp = numberFlag(flags, 'tp', 0, { min: 1, max: 8, integer: true });
    const load = stringFlag(flags, 'load') ?? 'read';
    if (load !== 'read' && load !== 'upload') throw new UsageError(`--load must be read or upload, got '${load}'`);
    const sampling = { temperature, topK, topP, seed };
    const medusaDir = stringFlag(flags, 'medusa');
    if (medusaDir === undefined && (flags['medusa-choices'] !== undefined || flags.acceptance !== undefined)) {
      throw new UsageError('--medusa-choices and --acceptance need --medusa DIR');
    }
    const acceptance = choiceFlag(flags, 'acceptance', ['greedy', 'typical'] as const, temperature > 0 ? 'typical' : 'greedy');
    if (medusaDir !== undefined && acceptance === 'greedy' && temperature > 0) throw new UsageError(`--acceptance greedy needs --temperature 0, got ${temperature}; use --acceptance typical to sample`);
    if (medusaDir !== undefined && acceptance === 'typical' && temperature === 0) throw new UsageError('--acceptance typical needs --temperature > 0');
    if (medusaDir !== undefined && (topK !== 0 || topP !== 1)) throw new UsageError('--top-k and --top-p do not apply with --medusa');
    const medusa = medusaDir === undefined ? null : { dir: medusaDir, choices: stringFlag(flags, 'medusa-choices'), acceptance };

    const model = await openModel({ model: stringFlag(flags, 'model'), tokenizer: stringFlag(flags, 'tokenizer') });
    const { tokenizer } = model;
    const config = model.checkpoint.config;
    const promptIds = tokenizer.encode(prompt, { bos: true });
    checkPromptFits(promptIds.length, config.maxSeqLen);
    const stopIds = [...new Set([...tokenizer.stopIds, ...config.eosIds])];
    const out = process.stdout;
    const run = tp === 0
      ? (body: (run: Run, maxSeqLen: number) => Promise<void>) => withReference(model, sampling, medusa, body)
      : (body: (run: Run, maxSeqLen: number) => Promise<void>) => withCluster(model, tp, load, flags.verbose === true, sampling, medusa, body);
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
  }),
};
