// The deadline of a communicator's running operation, on one timer that each operation re-arms:
// refresh() allocates nothing, where a setTimeout per operation made a timer each time.

/** Between operations the timer does not keep the process alive, and firing then does nothing. */
export class OpDeadline {
  private timer: NodeJS.Timeout | undefined;
  private timerMs = 0;
  private running = false;

  constructor(private readonly onExpired: (deadlineMs: number) => void) {}

  /** Starts the deadline of an operation that begins now. */
  arm(ms: number): void {
    this.running = true;
    if (this.timer === undefined || this.timerMs !== ms) {
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.timer = setTimeout(this.fire, ms);
      this.timerMs = ms;
    } else {
      this.timer.refresh();
    }
    this.timer.ref();
  }

  /** The operation ended. */
  disarm(): void {
    this.running = false;
    this.timer?.unref();
  }

  close(): void {
    this.running = false;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  // only arm() starts or refreshes the timer, so firing while an operation runs means that one is due
  private readonly fire = (): void => {
    if (this.running) this.onExpired(this.timerMs);
  };
}
