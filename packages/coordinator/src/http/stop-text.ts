// Stop strings on a stream of text: the text is let out as it comes except a tail that could be
// the start of a stop string; once a stop string appears, the text before it is the last let
// out and the stop string itself never is. Works on text, so a stop string that spans several
// tokens (several accepted in one Medusa step, or split across steps) is cut the same way.
export class StopText {
  private held = '';
  stopped = false;

  constructor(private readonly stops: readonly string[]) {}

  /** Takes the next piece of text; returns what may be sent now. */
  push(text: string): string {
    if (this.stopped) return '';
    if (this.stops.length === 0) return text;
    const all = this.held + text;
    let cut = -1;
    for (const s of this.stops) {
      const i = all.indexOf(s);
      if (i >= 0 && (cut < 0 || i < cut)) cut = i;
    }
    if (cut >= 0) {
      this.stopped = true;
      this.held = '';
      return all.slice(0, cut);
    }
    // hold back the longest tail that is a prefix of a stop string
    let keep = 0;
    for (const s of this.stops) {
      for (let n = Math.min(s.length - 1, all.length); n > keep; n--) {
        if (all.endsWith(s.slice(0, n))) { keep = n; break; }
      }
    }
    this.held = all.slice(all.length - keep);
    return all.slice(0, all.length - keep);
  }

  /** At the end of the generation: what was held back, which turned out to be no stop string. */
  end(): string {
    const rest = this.stopped ? '' : this.held;
    this.held = '';
    return rest;
  }
}
