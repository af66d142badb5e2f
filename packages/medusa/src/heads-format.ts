// Medusa heads on disk. Two layouts are read; FasterDecoding's is written.
//
// FasterDecoding/Medusa: a directory with config.json (medusa_num_heads, medusa_num_layers) and
// medusa_lm_head.safetensors holding the state dict of a ModuleList of heads, each a Sequential of
// L ResBlocks and a bias-free Linear:
//   {h}.{l}.linear.weight [d, d]   {h}.{l}.linear.bias [d]   (l < L)
//   {h}.{L}.weight        [V, d]
// vLLM: config.json (num_heads, num_hidden_layers) and model.safetensors with
//   blocks.{h}.layers.{l}.weight [d, d]   blocks.{h}.layers.{l}.bias [d] (when medusa_fc_bias)
//   lm_heads.{h}.weight [V, d], or one lm_head.weight shared by every head
// With no projection tensors at all, every head uses the base model's LM head.
//
// Published configs are known to disagree with their tensors, so the counts come from the tensor
// names; a config that says otherwise gets a warning.
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { openSafetensors, readSafetensor, writeSafetensors, type SafetensorsEntry, type SafetensorsFile } from '@octoserve/model';
import type { MedusaHeadLayer, MedusaHeads } from './heads.js';

export const MEDUSA_HEADS_FILE = 'medusa_lm_head.safetensors';

export interface LoadMedusaHeadsOptions {
  /** The base model's vocabulary and width: every tensor is checked against them. */
  baseVocab: number;
  baseDim: number;
  /** Warnings (config disagreements); default stderr. */
  log?: (line: string) => void;
}

type Layout = 'fasterdecoding' | 'vllm';

interface Parsed {
  layout: Layout;
  numHeads: number;
  numLayers: number;
  weight: (h: number, l: number) => string;
  bias: (h: number, l: number) => string | null;
  output: (h: number) => string | null;
}

/** The safetensors file of `path`: the file itself, or the heads file inside a directory. */
function headsFile(path: string): string {
  if (!existsSync(path)) throw new Error(`no Medusa heads at ${path}`);
  if (!statSync(path).isDirectory()) return path;
  for (const name of [MEDUSA_HEADS_FILE, 'model.safetensors']) if (existsSync(join(path, name))) return join(path, name);
  const found = readdirSync(path).filter((n) => n.endsWith('.safetensors'));
  if (found.length === 1) return join(path, found[0]!);
  const pt = readdirSync(path).filter((n) => n.endsWith('.pt') || n.endsWith('.bin'));
  throw new Error(
    `${path} has no ${MEDUSA_HEADS_FILE} (FasterDecoding's layout) or model.safetensors (vLLM's)` +
    (pt.length > 0 ? `; ${pt.join(', ')} is a PyTorch pickle, which octoserve does not read: save it as safetensors` : ''),
  );
}

/** Largest index + 1 over the names matching `re` (group 1), checking indices 0..n-1 all occur. */
function countIndices(names: readonly string[], re: RegExp, what: string): number {
  const seen = new Set<number>();
  for (const n of names) {
    const m = re.exec(n);
    if (m) seen.add(Number(m[1]));
  }
  const count = seen.size === 0 ? 0 : Math.max(...seen) + 1;
  for (let i = 0; i < count; i++) if (!seen.has(i)) throw new Error(`${what} ${i} is missing (found ${[...seen].sort((a, b) => a - b).join(', ')})`);
  return count;
}

function parseNames(file: string, names: readonly string[]): Parsed {
  const has = (n: string): boolean => names.includes(n);
  const where = basename(file);
  if (names.some((n) => n.startsWith('blocks.'))) {
    const numHeads = countIndices(names, /^blocks\.(\d+)\./, `${where}: head`);
    const numLayers = countIndices(names, /^blocks\.0\.layers\.(\d+)\.weight$/, `${where}: head 0 layer`);
    const perHead = names.some((n) => n.startsWith('lm_heads.'));
    if (perHead) countIndices(names, /^lm_heads\.(\d+)\.weight$/, `${where}: projection lm_heads.N`);
    return {
      layout: 'vllm', numHeads, numLayers,
      weight: (h, l) => `blocks.${h}.layers.${l}.weight`,
      bias: (h, l) => (has(`blocks.${h}.layers.${l}.bias`) ? `blocks.${h}.layers.${l}.bias` : null),
      output: (h) => (perHead ? `lm_heads.${h}.weight` : has('lm_head.weight') ? 'lm_head.weight' : null),
    };
  }
  const prefix = names.some((n) => n.startsWith('medusa_head.')) ? 'medusa_head.' : '';
  const esc = prefix.replace('.', '\\.');
  const numHeads = countIndices(names, new RegExp(`^${esc}(\\d+)\\.`), `${where}: head`);
  if (numHeads === 0) {
    const sample = names.slice(0, 4).join(', ');
    throw new Error(`${file} holds no Medusa heads: expected {h}.{l}.linear.weight (FasterDecoding) or blocks.{h}.layers.{l}.weight (vLLM), found ${sample || 'no tensors'}`);
  }
  const numLayers = countIndices(names, new RegExp(`^${esc}0\\.(\\d+)\\.linear\\.weight$`), `${where}: head 0 layer`);
  const anyOutput = names.some((n) => /^(?:medusa_head\.)?\d+\.\d+\.weight$/.test(n));
  return {
    layout: 'fasterdecoding', numHeads, numLayers,
    weight: (h, l) => `${prefix}${h}.${l}.linear.weight`,
    bias: (h, l) => (has(`${prefix}${h}.${l}.linear.bias`) ? `${prefix}${h}.${l}.linear.bias` : null),
    output: (h) => (anyOutput ? `${prefix}${h}.${numLayers}.weight` : null),
  };
}

/** Warns about every count in config.json that disagrees with the tensors. */
function checkConfig(dir: string, parsed: Parsed, file: string, log: (line: string) => void): void {
  const path = join(dir, 'config.json');
  if (!existsSync(path)) return;
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    log(`warning: ${path} is not valid JSON (${(e as Error).message}); using the counts in ${basename(file)}`);
    return;
  }
  const checks: [string, number, string][] = [
    ['medusa_num_heads', parsed.numHeads, 'heads'], ['num_heads', parsed.numHeads, 'heads'],
    ['medusa_num_layers', parsed.numLayers, 'layers per head'], ['num_hidden_layers', parsed.numLayers, 'layers per head'],
  ];
  for (const [key, actual, what] of checks) {
    const said = config[key];
    if (typeof said === 'number' && said !== actual) {
      log(`warning: ${path} says ${key} ${said}, but ${basename(file)} holds ${actual} ${what}; using ${actual}`);
    }
  }
}

function readChecked(st: SafetensorsFile, name: string, shape: readonly number[], why: string, used: Set<string>): Float32Array {
  used.add(name);
  const t = st.tensors.get(name);
  if (t === undefined) throw new Error(`${st.file.path}: tensor ${name} is missing (${why})`);
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new Error(`${st.file.path}: tensor ${name} has shape [${t.shape.join(', ')}]; ${why} needs [${shape.join(', ')}]`);
  }
  return readSafetensor(st, name);
}

/** Loads Medusa heads from a directory (or a .safetensors file) in either layout. */
export function loadMedusaHeads(path: string, options: LoadMedusaHeadsOptions): MedusaHeads {
  const { baseVocab: V, baseDim: d } = options;
  const log = options.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const file = headsFile(path);
  const st = openSafetensors(file);
  try {
    const parsed = parseNames(file, [...st.tensors.keys()]);
    checkConfig(statSync(path).isDirectory() ? path : dirname(path), parsed, file, log);
    const why = `a model of dim ${d}`;
    const layers: MedusaHeadLayer[][] = [];
    const output: (Float32Array | null)[] = [];
    const shared = new Map<string, Float32Array>();
    const used = new Set<string>();
    for (let h = 0; h < parsed.numHeads; h++) {
      const row: MedusaHeadLayer[] = [];
      for (let l = 0; l < parsed.numLayers; l++) {
        const w = readChecked(st, parsed.weight(h, l), [d, d], why, used);
        const biasName = parsed.bias(h, l);
        if (biasName === null && parsed.layout === 'fasterdecoding') throw new Error(`${file}: tensor ${h}.${l}.linear.bias is missing`);
        row.push({ w, b: biasName === null ? new Float32Array(d) : readChecked(st, biasName, [d], why, used) });
      }
      layers.push(row);
      const outName = parsed.output(h);
      if (outName === null) {
        output.push(null);
      } else {
        const cached = shared.get(outName) ?? readChecked(st, outName, [V, d], `a model of vocabulary ${V} and dim ${d}`, used);
        shared.set(outName, cached);
        output.push(cached);
      }
    }
    const extra = [...st.tensors.keys()].filter((n) => !used.has(n));
    if (extra.length > 0) {
      throw new Error(
        `${file}: unexpected tensor ${extra[0]}${extra.length > 1 ? ` (and ${extra.length - 1} more)` : ''}: ` +
        `the heads were read as ${parsed.numHeads} heads of ${parsed.numLayers} layers (counted from head 0)`,
      );
    }
    return { numHeads: parsed.numHeads, numLayers: parsed.numLayers, dim: d, vocabSize: V, layers, output };
  } finally {
    st.file.close();
  }
}

export interface WriteMedusaHeadsOptions {
  /** Written as base_model_name_or_path. */
  baseModel?: string;
  /** The base LM head ([vocab, dim]), written for heads that share it (FasterDecoding has no sharing). */
  baseOutput?: Float32Array;
  /** More config.json fields (e.g. training facts). */
  extra?: Record<string, unknown>;
}

/** Writes `heads` in FasterDecoding's layout: config.json and medusa_lm_head.safetensors (F32). */
export function writeMedusaHeads(dir: string, heads: MedusaHeads, options: WriteMedusaHeadsOptions = {}): void {
  const { numHeads, numLayers, dim, vocabSize } = heads;
  mkdirSync(dir, { recursive: true });
  const entries: SafetensorsEntry[] = [];
  const sharedHeads: number[] = []; // heads written without a projection (they use the base LM head)
  for (let h = 0; h < numHeads; h++) {
    for (let l = 0; l < numLayers; l++) {
      const layer = heads.layers[h]![l]!;
      entries.push({ name: `${h}.${l}.linear.weight`, dtype: 'F32', shape: [dim, dim], data: layer.w });
      entries.push({ name: `${h}.${l}.linear.bias`, dtype: 'F32', shape: [dim], data: layer.b });
    }
    const out = heads.output[h] ?? options.baseOutput ?? null;
    if (out !== null) entries.push({ name: `${h}.${numLayers}.weight`, dtype: 'F32', shape: [vocabSize, dim], data: out });
    else sharedHeads.push(h);
  }
  if (sharedHeads.length > 0 && sharedHeads.length < numHeads) {
    throw new Error(`heads ${sharedHeads.join(', ')} share the base LM head and the others do not: pass baseOutput to write them all`);
  }
  writeSafetensors(join(dir, MEDUSA_HEADS_FILE), entries, { format: 'pt' });
  const config = {
    medusa_num_heads: numHeads,
    medusa_num_layers: numLayers,
    hidden_size: dim,
    vocab_size: vocabSize,
    ...(options.baseModel !== undefined ? { base_model_name_or_path: options.baseModel } : {}),
    ...options.extra,
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
}
