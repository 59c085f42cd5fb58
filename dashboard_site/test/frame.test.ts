import { describe, expect, it } from "vitest";
import { type FrameClock, FrameCoalescer } from "../src/ui/frame";

/** Frames and timers that run only when the test says so. */
function manualClock(): FrameClock & { nextFrame: () => void; timersDue: () => void } {
  let frames: (() => void)[] = [];
  let timers: (() => void)[] = [];
  return {
    frame: (job) => { frames.push(job); },
    later: (job) => { timers.push(job); },
    nextFrame: () => { const due = frames; frames = []; due.forEach((job) => job()); },
    timersDue: () => { const due = timers; timers = []; due.forEach((job) => job()); },
  };
}

describe("FrameCoalescer", () => {
  it("renders once a frame however many messages came, then reports the paint a frame later", () => {
    const clock = manualClock();
    const log: string[] = [];
    const painter = new FrameCoalescer(() => log.push("render"), () => log.push("painted"), clock);
    painter.request();
    painter.request();
    painter.request();
    expect(log).toEqual([]);
    clock.nextFrame();
    expect(log).toEqual(["render"]);
    clock.timersDue(); // the fallback finds the render done
    clock.nextFrame();
    expect(log).toEqual(["render", "painted"]);
    painter.request();
    clock.nextFrame();
    expect(log).toEqual(["render", "painted", "render"]);
  });

  it("still renders in a hidden page, where no frame comes", () => {
    const clock = manualClock();
    let renders = 0;
    const painter = new FrameCoalescer(() => { renders += 1; }, () => {}, clock);
    painter.request();
    clock.timersDue();
    expect(renders).toBe(1);
    clock.nextFrame(); // the late frame does not render it twice
    expect(renders).toBe(1);
  });
});
