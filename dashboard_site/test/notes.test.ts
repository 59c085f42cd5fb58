import { describe, expect, it } from "vitest";

import { EMPTY_STATE, type LiveState } from "../src/live";
import { NOTE_SHOWN_S, runNoteBanner } from "../src/notes";
import type { LiveEvent, Tick } from "../src/protocol";

function state(elapsed: number, notes: [number, string][]): LiveState {
  const tick = { type: "tick", run_id: "r1", second: Math.floor(elapsed), elapsed_s: elapsed } as Tick;
  return {
    ...EMPTY_STATE, latest: tick, history: [tick],
    events: notes.map(([at, message]) => ({ type: "event", run_id: "r1", event: "run_note",
                                            at_s: at, detail: { message } }) as unknown as LiveEvent),
  };
}

describe("run note banner", () => {
  it("is absent without notes", () => {
    expect(runNoteBanner(EMPTY_STATE)).toBeNull();
  });
  it("shows the latest note while it is recent, and every note in its title", () => {
    const banner = runNoteBanner(state(12, [[3, "fault f1 could not be cleared for 4 s"],
                                            [10, "the target's count could not be read"]]));
    expect(banner?.text).toBe("the target's count could not be read (2 notes)");
    expect(banner?.title).toBe("3 s: fault f1 could not be cleared for 4 s\n" +
                               "10 s: the target's count could not be read");
  });
  it("goes away once the note is old", () => {
    expect(runNoteBanner(state(10 + NOTE_SHOWN_S + 1, [[10, "late"]]))).toBeNull();
  });
  it("keeps markup as text: the header sets it with textContent", () => {
    expect(runNoteBanner(state(1, [[1, "<img src=x onerror=alert(1)>"]]))?.text)
      .toBe("<img src=x onerror=alert(1)>");
  });
});
