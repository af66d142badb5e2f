// CPU work of a known length, for benchmarks that put compute between collectives (a decode
// segment's matmuls between its all-reduces). Measured in this process's CPU time, not wall time,
// so that ranks sharing a core still each do the same work: on 8 ranks over 2 cores, 100 us of
// work each takes about 400 us of wall time, as the matmuls would.

/** Does a fixed amount of arithmetic per microsecond of CPU time, calibrated once. */
export class CpuBurner {
  private readonly acc = new Float64Array(1);

  private constructor(private readonly loopsPerUs: number) {}

  /** Times a fixed loop against process.cpuUsage() until it has run for at least `minMs` of CPU. */
  static calibrate(minMs = 50): CpuBurner {
    const probe = new CpuBurner(1);
    let loops = 1 << 16;
    for (;;) {
      const c0 = process.cpuUsage();
      probe.spin(loops);
      const d = process.cpuUsage(c0);
      const us = d.user + d.system;
      if (us >= minMs * 1000) return new CpuBurner(loops / us);
      loops *= 2;
    }
  }

  /** Burns about `us` microseconds of CPU. */
  burn(us: number): void {
    if (us > 0) this.spin(Math.round(us * this.loopsPerUs));
  }

  private spin(loops: number): void {
    let x = this.acc[0]!;
    for (let i = 0; i < loops; i++) x = x * 0.999999 + 1e-7;
    this.acc[0] = x; // kept, so the loop is not optimized away
  }
}
