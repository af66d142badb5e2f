// The machines a step is simulated on: per-GPU memory, HBM bandwidth, dense tensor-core FLOPS by
// precision and the GPU-to-GPU link, from NVIDIA's public datasheets (the source beside each
// number). Dense means without 2:4 structured sparsity: the datasheets' headline tensor figures
// are the sparse ones, twice the dense.
import { readFileSync } from 'node:fs';

/** Precisions a matmul can run at on tensor cores. */
export type ComputePrecision = 'fp8' | 'bf16' | 'tf32';

export interface Hardware {
  name: string;
  /** GPUs in the box (the largest --tp it takes). */
  gpus: number;
  /** HBM per GPU, bytes. */
  memoryBytes: number;
  /** HBM bandwidth per GPU, bytes/s. */
  hbmBytesPerS: number;
  /** Dense tensor-core FLOP/s per GPU at each precision; a missing precision is not supported. */
  denseFlops: Partial<Record<ComputePrecision, number>>;
  /** GPU-to-GPU bandwidth one way, bytes/s per GPU (half the bidirectional NVLink figure). */
  linkBytesPerS: number;
  /**
   * Largest message the direct all-reduces (one-shot, two-shot) take; above it, ring. A model
   * choice, not a datasheet figure: the direct algorithms stage each message in a workspace every
   * peer can read, and this is that workspace's size.
   */
  directAllReduceMaxBytes: number;
}

const GB = 1e9;
const TB = 1e12;
const TFLOPS = 1e12;
const MiB = 1 << 20;

/**
 * HGX H200: 8 x H200 SXM on NVLink Switch. Datasheet: NVIDIA H200 Tensor Core GPU,
 * nvidia.com/en-us/data-center/h200 (H200 SXM column).
 */
export const HGX_H200: Hardware = Object.freeze({
  name: 'hgx-h200',
  gpus: 8, // HGX H200 8-GPU baseboard
  memoryBytes: 141 * GB, // "GPU memory 141GB" (HBM3e)
  hbmBytesPerS: 4.8 * TB, // "GPU memory bandwidth 4.8TB/s"
  denseFlops: Object.freeze({
    fp8: 1979 * TFLOPS, // "FP8 Tensor Core 3,958 TFLOPS" with sparsity; half dense
    bf16: 989.5 * TFLOPS, // "BF16 Tensor Core 1,979 TFLOPS" with sparsity; half dense
    tf32: 494.5 * TFLOPS, // "TF32 Tensor Core 989 TFLOPS" with sparsity; half dense
  }),
  linkBytesPerS: 450 * GB, // "NVIDIA NVLink: 900GB/s" bidirectional per GPU; 450 GB/s each way
  directAllReduceMaxBytes: 8 * MiB,
});

/**
 * HGX H100: 8 x H100 SXM on NVLink Switch. Datasheet: NVIDIA H100 Tensor Core GPU,
 * nvidia.com/en-us/data-center/h100 (H100 SXM column). The same GH100 tensor cores and NVLink as
 * H200: its datasheet lists the same FP8 3,958 / BF16 1,979 / TF32 989 teraFLOPS (with sparsity)
 * and NVLink 900GB/s; only the memory differs.
 */
export const HGX_H100: Hardware = Object.freeze({
  ...HGX_H200,
  name: 'hgx-h100',
  memoryBytes: 80 * GB, // "GPU memory 80GB" (HBM3)
  hbmBytesPerS: 3.35 * TB, // "GPU memory bandwidth 3.35TB/s"
});

/**
 * DGX A100: 8 x A100 SXM4 80GB on NVSwitch. Datasheet: NVIDIA A100 Tensor Core GPU
 * (nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf, A100 80GB SXM column). No FP8.
 */
export const DGX_A100: Hardware = Object.freeze({
  name: 'dgx-a100',
  gpus: 8, // DGX A100: eight A100 GPUs
  memoryBytes: 80 * GB, // "GPU Memory 80GB HBM2e"
  hbmBytesPerS: 2039 * GB, // "GPU Memory Bandwidth 2,039GB/s"
  denseFlops: Object.freeze({
    bf16: 312 * TFLOPS, // "BFLOAT16 Tensor Core 312 TFLOPS" (624 with sparsity)
    tf32: 156 * TFLOPS, // "Tensor Float 32 (TF32) 156 TFLOPS" (312 with sparsity)
  }),
  linkBytesPerS: 300 * GB, // "NVLink: 600GB/s" bidirectional per GPU; 300 GB/s each way
  directAllReduceMaxBytes: 8 * MiB,
});

export const HARDWARE_PRESETS: Readonly<Record<string, Hardware>> = Object.freeze({
  'hgx-h200': HGX_H200,
  'hgx-h100': HGX_H100,
  'dgx-a100': DGX_A100,
});

function positive(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new Error(`${what} must be a positive number, got ${JSON.stringify(v)}`);
  return v;
}

/** A hardware description from JSON: the fields of Hardware, numbers in bytes, bytes/s and FLOP/s. */
export function parseHardware(json: unknown, source: string): Hardware {
  if (typeof json !== 'object' || json === null) throw new Error(`${source}: expected a JSON object`);
  const o = json as Record<string, unknown>;
  const flops = o['denseFlops'];
  if (typeof flops !== 'object' || flops === null) throw new Error(`${source}: denseFlops must be an object such as {"bf16": 312e12}`);
  const denseFlops: Partial<Record<ComputePrecision, number>> = {};
  for (const [k, v] of Object.entries(flops)) {
    if (k !== 'fp8' && k !== 'bf16' && k !== 'tf32') throw new Error(`${source}: denseFlops.${k}: expected fp8, bf16 or tf32`);
    denseFlops[k] = positive(v, `${source}: denseFlops.${k}`);
  }
  if (denseFlops.bf16 === undefined) throw new Error(`${source}: denseFlops.bf16 is required`);
  const gpus = positive(o['gpus'], `${source}: gpus`);
  if (!Number.isInteger(gpus)) throw new Error(`${source}: gpus must be an integer, got ${gpus}`);
  return {
    name: typeof o['name'] === 'string' ? o['name'] : source,
    gpus,
    memoryBytes: positive(o['memoryBytes'], `${source}: memoryBytes`),
    hbmBytesPerS: positive(o['hbmBytesPerS'], `${source}: hbmBytesPerS`),
    denseFlops,
    linkBytesPerS: positive(o['linkBytesPerS'], `${source}: linkBytesPerS`),
    directAllReduceMaxBytes: o['directAllReduceMaxBytes'] === undefined ? 8 * MiB : positive(o['directAllReduceMaxBytes'], `${source}: directAllReduceMaxBytes`),
  };
}

/** A preset by name, or a FILE.json (see parseHardware). */
export function resolveHardware(nameOrFile: string): Hardware {
  if (nameOrFile === 'this-machine') throw new Error('this-machine is octoserve on this host, not a GPU box: readHostCalibration (host.ts) models it');
  const preset = HARDWARE_PRESETS[nameOrFile];
  if (preset !== undefined) return preset;
  if (!nameOrFile.endsWith('.json')) {
    throw new Error(`unknown hardware '${nameOrFile}': expected ${Object.keys(HARDWARE_PRESETS).join(', ')} or a FILE.json`);
  }
  return parseHardware(JSON.parse(readFileSync(nameOrFile, 'utf8')), nameOrFile);
}
