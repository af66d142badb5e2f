// Adam (Kingma & Ba, 2015) over a list of float32 parameter arrays, allocation-free per step.

export interface AdamOptions {
  beta1?: number; // default 0.9
  beta2?: number; // default 0.999
  eps?: number; // default 1e-8
}

/**
 * For each parameter θ with gradient g (already averaged over the batch), at step t:
 *   m ← β1 m + (1 - β1) g        v ← β2 v + (1 - β2) g²
 *   θ ← θ - lr · m̂ / (sqrt(v̂) + ε),   m̂ = m / (1 - β1^t),  v̂ = v / (1 - β2^t)
 */
export class Adam {
  private readonly m: Float32Array[];
  private readonly v: Float32Array[];
  private t = 0;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly eps: number;

  constructor(readonly params: readonly Float32Array[], options: AdamOptions = {}) {
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.eps = options.eps ?? 1e-8;
    this.m = params.map((p) => new Float32Array(p.length));
    this.v = params.map((p) => new Float32Array(p.length));
  }

  /** One update with learning rate `lr`; grads[i] matches params[i] and is multiplied by `gradScale` first. */
  step(grads: readonly Float32Array[], lr: number, gradScale = 1): void {
    if (grads.length !== this.params.length) throw new Error(`Adam got ${grads.length} gradients for ${this.params.length} parameters`);
    this.t++;
    const { beta1: b1, beta2: b2, eps } = this;
    const c1 = 1 / (1 - b1 ** this.t);
    const c2 = 1 / (1 - b2 ** this.t);
    for (let k = 0; k < this.params.length; k++) {
      const p = this.params[k]!;
      const g = grads[k]!;
      const m = this.m[k]!;
      const v = this.v[k]!;
      if (g.length !== p.length) throw new Error(`gradient ${k} has ${g.length} values; its parameter has ${p.length}`);
      for (let i = 0; i < p.length; i++) {
        const gi = g[i]! * gradScale;
        const mi = b1 * m[i]! + (1 - b1) * gi;
        const vi = b2 * v[i]! + (1 - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i]! - (lr * mi * c1) / (Math.sqrt(vi * c2) + eps);
      }
    }
  }
}
