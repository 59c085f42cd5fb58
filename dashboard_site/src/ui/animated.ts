/** Numbers that glide to their new value; the raw value is always in data-value at once. */

const reduceMotion = typeof window !== "undefined" &&
  window.matchMedia?.("(prefers-reduced-motion: reduce)").matches;

const active = new Set<AnimatedNumber>();
let frame = 0;

function loop(now: number): void {
  for (const number of [...active]) {
    if (number.step(now)) active.delete(number);
  }
  frame = active.size ? requestAnimationFrame(loop) : 0;
}

function easeOutCubic(t: number): number {
  return 1 - (1 - t) ** 3;
}

export class AnimatedNumber {
  private from = 0;
  private to: number | null = null;
  private shown = 0;
  private startedAt = 0;
  private format: (value: number) => string;

  constructor(
    readonly element: HTMLElement,
    format: (value: number) => string,
    private readonly durationMs = 900,
    private readonly empty = "—",
  ) {
    this.format = format;
    element.textContent = empty;
  }

  setFormat(format: (value: number) => string): void {
    this.format = format;
    if (this.to !== null) this.element.textContent = this.format(this.shown);
  }

  /** The new value; null shows the empty mark (no data yet), never a made-up zero. */
  set(value: number | null): void {
    if (value === null || !Number.isFinite(value)) {
      this.to = null;
      this.element.dataset.value = "";
      this.element.textContent = this.empty;
      active.delete(this);
      return;
    }
    this.element.dataset.value = String(value);
    if (this.to === null || reduceMotion || document.hidden) {
      this.to = this.shown = this.from = value;
      this.element.textContent = this.format(value);
      return;
    }
    if (value === this.to) return;
    this.from = this.shown;
    this.to = value;
    this.startedAt = performance.now();
    active.add(this);
    if (!frame) frame = requestAnimationFrame(loop);
  }

  /** One animation frame; true when finished. */
  step(now: number): boolean {
    if (this.to === null) return true;
    const t = Math.min(1, (now - this.startedAt) / this.durationMs);
    this.shown = this.from + (this.to - this.from) * easeOutCubic(t);
    if (t >= 1) this.shown = this.to;
    const text = this.format(this.shown);
    if (this.element.textContent !== text) this.element.textContent = text;
    return t >= 1;
  }
}
