// Hugging Face Llama checkpoints: a directory with config.json and model.safetensors, or shards
// listed in model.safetensors.index.json. HF weights use the rotate-half RoPE layout.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FileCheckpoint, LAYER_TENSORS, layerTensorName, type Checkpoint, type LayerTensor } from './checkpoint.js';
import { resolveConfig, type ModelConfig, type RopeScaling } from './config.js';
import { dtypeBytes, type DType } from './dtype.js';
import { ModelError } from './errors.js';
import { permuteRopeRows } from './rope.js';
import { openSafetensors, writeSafetensors, type SafetensorsEntry } from './safetensors.js';
import { elementCount, type OpenFile, type TensorLocation } from './tensor-file.js';

const HF_LAYER_NAMES: Record<LayerTensor, string> = {
  attention_norm: 'input_layernorm.weight',
  wq: 'self_attn.q_proj.weight',
  wk: 'self_attn.k_proj.weight',
  wv: 'self_attn.v_proj.weight',
  wo: 'self_attn.o_proj.weight',
  ffn_norm: 'post_attention_layernorm.weight',
  w1: 'mlp.gate_proj.weight',
  w2: 'mlp.down_proj.weight',
  w3: 'mlp.up_proj.weight',
};

/** The HF name of canonical tensor `name`. */
export function hfTensorName(name: string): string {
  if (name === 'tok_embeddings') return 'model.embed_tokens.weight';
  if (name === 'norm') return 'model.norm.weight';
  if (name === 'output') return 'lm_head.weight';
  const m = /^layers\.(\d+)\.(\w+)$/.exec(name);
  const suffix = m === null ? undefined : HF_LAYER_NAMES[m[2] as LayerTensor];
  if (m === null || suffix === undefined) throw new ModelError(`no HF name for tensor '${name}'`);
  return `model.layers.${m[1]}.${suffix}`;
}

function field(json: Record<string, unknown>, key: string, path: string): number;
function field(json: Record<string, unknown>, key: string, path: string, fallback: number): number;
function field(json: Record<string, unknown>, key: string, path: string, fallback?: number): number {
  const v = json[key];
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw new ModelError(`${path}: missing ${key}`);
  }
  if (typeof v !== 'number') throw new ModelError(`${path}: ${key} must be a number, got ${JSON.stringify(v)}`);
  return v;
}

function tokenIds(v: unknown, fallback: number[], key: string, path: string): number[] {
  if (v === undefined || v === null) return fallback;
  const ids = Array.isArray(v) ? v : [v];
  if (ids.length === 0 || !ids.every((x) => Number.isInteger(x))) throw new ModelError(`${path}: ${key} must be an id or a list of ids, got ${JSON.stringify(v)}`);
  return ids as number[];
}

function ropeScaling(v: unknown, path: string): RopeScaling | null {
  if (v === undefined || v === null) return null;
  const s = v as Record<string, unknown>;
  const type = s.rope_type ?? s.type;
  if (type === 'default') return null;
  if (type === 'linear') return { type: 'linear', factor: field(s, 'factor', `${path} rope_scaling`) };
  if (type === 'llama3') {
    const where = `${path} rope_scaling`;
    return {
      type: 'llama3',
      factor: field(s, 'factor', where),
      lowFreqFactor: field(s, 'low_freq_factor', where),
      highFreqFactor: field(s, 'high_freq_factor', where),
      originalMaxPositionEmbeddings: field(s, 'original_max_position_embeddings', where),
    };
  }
  throw new ModelError(`${path}: rope_scaling type ${JSON.stringify(type)} is not supported (supported: llama3, linear)`);
}

/** The model config of an HF config.json. */
export function parseHfConfig(json: unknown, path: string): ModelConfig {
  if (typeof json !== 'object' || json === null) throw new ModelError(`${path}: not a JSON object`);
  const c = json as Record<string, unknown>;
  if (c.hidden_act !== undefined && c.hidden_act !== 'silu') {
    throw new ModelError(`${path}: hidden_act ${JSON.stringify(c.hidden_act)} is not supported (Llama uses silu)`);
  }
  const nHeads = field(c, 'num_attention_heads', path);
  return resolveConfig({
    dim: field(c, 'hidden_size', path),
    hiddenDim: field(c, 'intermediate_size', path),
    nLayers: field(c, 'num_hidden_layers', path),
    nHeads,
    nKvHeads: field(c, 'num_key_value_heads', path, nHeads),
    ...(c.head_dim !== undefined && c.head_dim !== null ? { headDim: field(c, 'head_dim', path) } : {}),
    vocabSize: field(c, 'vocab_size', path),
    maxSeqLen: field(c, 'max_position_embeddings', path, 2048),
    normEps: field(c, 'rms_norm_eps', path, 1e-6),
    ropeTheta: field(c, 'rope_theta', path, 10000),
    ropeScaling: ropeScaling(c.rope_scaling, path),
    ropeLayout: 'half',
    sharedClassifier: c.tie_word_embeddings === true,
    bosId: tokenIds(c.bos_token_id, [1], 'bos_token_id', path)[0]!,
    eosIds: tokenIds(c.eos_token_id, [2], 'eos_token_id', path),
  });
}

export function isHfDir(dir: string): boolean {
  return existsSync(join(dir, 'config.json'));
}

/** HF tensor name → the shard file that holds it. */
function weightMap(dir: string): Map<string, string> {
  const single = join(dir, 'model.safetensors');
  const indexPath = join(dir, 'model.safetensors.index.json');
  if (existsSync(indexPath)) {
    let index: unknown;
    try {
      index = JSON.parse(readFileSync(indexPath, 'utf8'));
    } catch (err) {
      throw new ModelError(`${indexPath}: not valid JSON (${(err as Error).message})`);
    }
    const map = (index as { weight_map?: unknown }).weight_map;
    if (typeof map !== 'object' || map === null) throw new ModelError(`${indexPath}: no weight_map object`);
    return new Map(Object.entries(map as Record<string, string>).map(([name, file]) => [name, join(dir, file)]));
  }
  if (!existsSync(single)) throw new ModelError(`${dir}: no model.safetensors or model.safetensors.index.json`);
  return new Map([['*', single]]);
}

/** Opens an HF Llama directory; tensors are read on demand, converted to float32. */
export function openHf(dir: string): Checkpoint {
  const configPath = join(dir, 'config.json');
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(configPath, 'utf8'));
  } catch (err) {
    throw new ModelError(`${configPath}: cannot read (${(err as Error).message})`);
  }
  const config = parseHfConfig(json, configPath);
  const map = weightMap(dir);
  const files = new Map<string, ReturnType<typeof openSafetensors>>();
  try {
    for (const path of new Set(map.values())) files.set(path, openSafetensors(path));
    const table = new Map<string, TensorLocation>();
    const names = ['tok_embeddings', 'norm', ...(config.sharedClassifier ? [] : ['output'])];
    for (let l = 0; l < config.nLayers; l++) for (const t of LAYER_TENSORS) names.push(layerTensorName(l, t));
    for (const name of names) {
      const hfName = hfTensorName(name);
      const path = map.get(hfName) ?? map.get('*');
      const st = path === undefined ? undefined : files.get(path);
      const t = st?.tensors.get(hfName);
      if (st === undefined || t === undefined) {
        const hint = name === 'output' ? ' (config.json has tie_word_embeddings false)' : '';
        throw new ModelError(`${dir}: missing tensor ${hfName}${hint}`);
      }
      table.set(name, { file: st.file, offset: t.offset, dtype: t.dtype, shape: t.shape, sourceName: hfName });
    }
    if (config.sharedClassifier) table.set('output', table.get('tok_embeddings')!);
    const open: OpenFile[] = [...files.values()].map((f) => f.file);
    return new FileCheckpoint(config, 'hf', dir, table, open, configPath);
  } catch (err) {
    for (const f of files.values()) f.file.close();
    throw err;
  }
}

/** The config.json of `config` (HF LlamaConfig field names). */
export function hfConfigJson(config: ModelConfig, dtype: DType = 'F32'): Record<string, unknown> {
  const s = config.ropeScaling;
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_act: 'silu',
    hidden_size: config.dim,
    intermediate_size: config.hiddenDim,
    num_hidden_layers: config.nLayers,
    num_attention_heads: config.nHeads,
    num_key_value_heads: config.nKvHeads,
    head_dim: config.headDim,
    vocab_size: config.vocabSize,
    max_position_embeddings: config.maxSeqLen,
    rms_norm_eps: config.normEps,
    rope_theta: config.ropeTheta,
    rope_scaling: s === null ? null : s.type === 'linear' ? { rope_type: 'linear', factor: s.factor } : {
      rope_type: 'llama3', factor: s.factor, low_freq_factor: s.lowFreqFactor,
      high_freq_factor: s.highFreqFactor, original_max_position_embeddings: s.originalMaxPositionEmbeddings,
    },
    tie_word_embeddings: config.sharedClassifier,
    bos_token_id: config.bosId,
    eos_token_id: config.eosIds.length === 1 ? config.eosIds[0] : config.eosIds,
    torch_dtype: { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[dtype],
  };
}

export interface WriteHfOptions {
  /** Stored element type (default F32). */
  dtype?: DType;
  /** Split into shards of at most about this many bytes, with model.safetensors.index.json. */
  shardBytes?: number;
}

/** Writes `ckpt` as an HF Llama directory, permuting wq/wk rows to the rotate-half layout. */
export function writeHf(dir: string, ckpt: Checkpoint, options: WriteHfOptions = {}): string[] {
  const c = ckpt.config;
  const dtype = options.dtype ?? 'F32';
  mkdirSync(dir, { recursive: true });
  const names = ckpt.tensorNames().filter((n) => !(n === 'output' && c.sharedClassifier));
  const entries: SafetensorsEntry[] = names.map((name) => ({
    name: hfTensorName(name),
    dtype,
    shape: [...ckpt.tensorInfo(name).shape],
    data: () => {
      const w = ckpt.read(name);
      if (name.endsWith('.wq')) return permuteRopeRows(w, c.nHeads, c.headDim, c.dim, c.ropeLayout, 'half');
      if (name.endsWith('.wk')) return permuteRopeRows(w, c.nKvHeads, c.headDim, c.dim, c.ropeLayout, 'half');
      return w;
    },
  }));
  const shards: SafetensorsEntry[][] = [[]];
  let bytes = 0;
  for (const e of entries) {
    const size = elementCount(e.shape) * dtypeBytes(dtype);
    if (options.shardBytes !== undefined && bytes > 0 && bytes + size > options.shardBytes) {
      shards.push([]);
      bytes = 0;
    }
    shards[shards.length - 1]!.push(e);
    bytes += size;
  }
  const written = [join(dir, 'config.json')];
  writeFileSync(written[0]!, JSON.stringify(hfConfigJson(c, dtype), null, 2) + '\n');
  const metadata = { format: 'pt' };
  if (shards.length === 1) {
    written.push(join(dir, 'model.safetensors'));
    writeSafetensors(written[1]!, entries, metadata);
    return written;
  }
  const weightMapJson: Record<string, string> = {};
  let total = 0;
  shards.forEach((shard, i) => {
    const file = `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`;
    for (const e of shard) {
      weightMapJson[e.name] = file;
      total += elementCount(e.shape) * dtypeBytes(dtype);
    }
    written.push(join(dir, file));
    writeSafetensors(join(dir, file), shard, metadata);
  });
  const indexPath = join(dir, 'model.safetensors.index.json');
  writeFileSync(indexPath, JSON.stringify({ metadata: { total_size: total }, weight_map: weightMapJson }, null, 2) + '\n');
  written.push(indexPath);
  return written;
}
