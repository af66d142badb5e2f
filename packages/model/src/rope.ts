// Rotary position embedding: frequencies (with Llama 3.1 scaling), the rotation in both pair
// layouts, and the row permutation of wq/wk that turns one layout into the other.
// Float32 throughout, op for op as llama2.c run.c does with powf/cosf/sinf, so angles agree bit for bit.
import type { ModelConfig, RopeLayout, RopeScaling } from './config.js';

const f32 = Math.fround;

/** invFreq[i] = 1 / theta^(2i / headDim) for i < headDim/2, in float32, then scaled. */
export function ropeFrequencies(headDim: number, theta: number, scaling: RopeScaling | null): Float32Array {
  const half = headDim / 2;
  const invFreq = new Float32Array(half); // [headDim/2]
  for (let i = 0; i < half; i++) {
    const exponent = f32(f32(2 * i) / f32(headDim));
    invFreq[i] = f32(1 / f32(Math.pow(f32(theta), exponent)));
  }
  if (scaling?.type === 'linear') {
    for (let i = 0; i < half; i++) invFreq[i] = f32(invFreq[i]! / scaling.factor);
  } else if (scaling?.type === 'llama3') {
    // Llama 3.1: long wavelengths are divided by `factor`, short ones kept, the band between blended.
    const { factor, lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings: oldLen } = scaling;
    const lowFreqWavelen = oldLen / lowFreqFactor;
    const highFreqWavelen = oldLen / highFreqFactor;
    for (let i = 0; i < half; i++) {
      const freq = invFreq[i]!;
      const wavelen = (2 * Math.PI) / freq;
      if (wavelen > lowFreqWavelen) {
        invFreq[i] = f32(freq / factor);
      } else if (wavelen >= highFreqWavelen) {
        const smooth = (oldLen / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
        invFreq[i] = f32((1 - smooth) * (freq / factor) + smooth * freq);
      }
    }
  }
  return invFreq;
}

/** Frequencies of one model plus the cos/sin of the current position. */
export interface Rope {
  readonly layout: RopeLayout;
  readonly headDim: number;
  readonly invFreq: Float32Array; // [headDim/2]
  readonly cos: Float32Array; // [headDim/2] cos(pos * invFreq) of the last setRopePosition
  readonly sin: Float32Array; // [headDim/2]
}

export function createRope(config: ModelConfig): Rope {
  const half = config.headDim / 2;
  return {
    layout: config.ropeLayout,
    headDim: config.headDim,
    invFreq: ropeFrequencies(config.headDim, config.ropeTheta, config.ropeScaling),
    cos: new Float32Array(half),
    sin: new Float32Array(half),
  };
}

/**
 * cos/sin of position `pos` into cos/sin[offset .. offset + headDim/2): angle_i = pos * invFreq[i]
 * in float32. The reference (setRopePosition) and the worker's per-token tables both fill through
 * here, so their angles agree bit for bit.
 */
export function ropeAngles(cos: Float32Array, sin: Float32Array, invFreq: Float32Array, pos: number, offset = 0): void {
  for (let i = 0; i < invFreq.length; i++) {
    const angle = f32(pos * invFreq[i]!);
    cos[offset + i] = Math.cos(angle);
    sin[offset + i] = Math.sin(angle);
  }
}

/** Fills rope.cos / rope.sin for position `pos` (once per token, shared by q and k of every head). */
export function setRopePosition(rope: Rope, pos: number): void {
  ropeAngles(rope.cos, rope.sin, rope.invFreq, pos);
}

/** Rotates heads 0..nHeads-1 of vec[offset ...] in place by the position set last. */
export function applyRope(rope: Rope, vec: Float32Array, offset: number, nHeads: number): void {
  const { cos, sin, headDim } = rope;
  const half = headDim / 2;
  // interleaved: pair (2i, 2i+1); half: pair (i, i + headDim/2)
  const step = rope.layout === 'interleaved' ? 2 : 1;
  const partner = rope.layout === 'interleaved' ? 1 : half;
  for (let h = 0; h < nHeads; h++) {
    const base = offset + h * headDim;
    for (let i = 0; i < half; i++) {
      const a = base + i * step;
      const b = a + partner;
      const v0 = vec[a]!;
      const v1 = vec[b]!;
      const c = cos[i]!;
      const s = sin[i]!;
      vec[a] = f32(v0 * c) - f32(v1 * s);
      vec[b] = f32(v0 * s) + f32(v1 * c);
    }
  }
}

/**
 * The rows of wq or wk ([nHeads * headDim, cols]) reordered from layout `from` to layout `to`,
 * so that RoPE in layout `to` gives the same attention scores. Per head, interleaved row 2j
 * becomes half row j and interleaved row 2j+1 becomes half row j + headDim/2.
 */
export function permuteRopeRows(
  w: Float32Array, nHeads: number, headDim: number, cols: number, from: RopeLayout, to: RopeLayout,
): Float32Array {
  if (from === to) return w;
  const out = new Float32Array(w.length);
  const half = headDim / 2;
  for (let h = 0; h < nHeads; h++) {
    for (let j = 0; j < half; j++) {
      for (let pair = 0; pair < 2; pair++) {
        const interleavedRow = h * headDim + 2 * j + pair;
        const halfRow = h * headDim + j + pair * half;
        const [src, dst] = to === 'half' ? [interleavedRow, halfRow] : [halfRow, interleavedRow];
        out.set(w.subarray(src * cols, (src + 1) * cols), dst * cols);
      }
    }
  }
  return out;
}
