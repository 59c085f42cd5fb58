/** One page render per animation frame, however many live messages arrived since the last. */

export interface FrameClock {
  /** requestAnimationFrame */
  frame: (job: () => void) => void;
  /** setTimeout: frames stop in a hidden page, and a hidden page still keeps up */
  later: (job: () => void, ms: number) => void;
}

const BROWSER: FrameClock = {
  frame: (job) => requestAnimationFrame(() => job()),
  later: (job, ms) => window.setTimeout(job, ms),
};

/** Runs `job` once on the next frame for any number of requests before it (or after
 * `fallbackMs` when no frame comes, as in a hidden page); then `afterPaint` on the frame after,
 * when what the job drew is on screen. */
export class FrameCoalescer {
  private pending = false;

  constructor(
    private readonly job: () => void,
    private readonly afterPaint: () => void = () => {},
    private readonly clock: FrameClock = BROWSER,
    private readonly fallbackMs = 250,
  ) {}

  request(): void {
    if (this.pending) return;
    this.pending = true;
    let ran = false;
    const run = () => {
      if (ran) return;
      ran = true;
      this.pending = false;
      this.job();
      this.clock.frame(this.afterPaint);
    };
    this.clock.frame(run);
    this.clock.later(run, this.fallbackMs);
  }
}
