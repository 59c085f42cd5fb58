import { describe, expect, it } from "vitest";

import { backoffMs, EMPTY_STATE, HISTORY_LIMIT, parseMessage, reduce } from "../src/live";
import { event, run, snapshot, tick } from "./fixtures";
import { LIVE_SCHEMA } from "../src/protocol";

describe("reduce", () => {
  it("replaces the whole state with a snapshot", () => {
    // Given a state with a tick of an older connection
    const before = reduce(reduce(EMPTY_STATE, snapshot()), tick(0));
    // When a fresh snapshot arrives (reconnect)
    const after = reduce(before, snapshot({ history: [tick(0), tick(1)],
                                            events: [event("run_started", 0)] }));
    // Then nothing is duplicated
    expect(after.history.map((t) => t.second)).toEqual([0, 1]);
    expect(after.events).toHaveLength(1);
    expect(after.latest?.second).toBe(1);
  });

  it("appends ticks in order and replaces a repeated second", () => {
    let state = reduce(EMPTY_STATE, snapshot());
    state = reduce(state, tick(0));
    state = reduce(state, tick(2));
    state = reduce(state, tick(1));
    state = reduce(state, tick(2, { ok: 42 }));
    expect(state.history.map((t) => t.second)).toEqual([0, 1, 2]);
    expect(state.history[2]?.window.ok).toBe(42);
    expect(state.latest?.second).toBe(2);
  });

  it("asks for a resync when a tick belongs to a run it has not been told about", () => {
    const state = reduce(reduce(EMPTY_STATE, snapshot()), tick(0, {}, "r2"));
    expect(state.needsResync).toBe(true);
    expect(state.run).toBeNull();
    expect(state.history.map((t) => t.run_id)).toEqual(["r2"]);
  });

  it("starts afresh on run_started of another run", () => {
    const state = reduce(reduce(reduce(EMPTY_STATE, snapshot()), tick(0)),
                         event("run_started", 0, { status: "running" }, "r2"));
    expect(state.history).toEqual([]);
    expect(state.needsResync).toBe(true);
    expect(state.events.map((e) => e.run_id)).toEqual(["r2"]);
  });

  it("ignores an event it already has and records the status of run_stopped", () => {
    let state = reduce(EMPTY_STATE, snapshot());
    state = reduce(state, event("fault_injected", 20, { key: "f0" }));
    state = reduce(state, event("fault_injected", 20, { key: "f0" }));
    state = reduce(state, event("run_stopped", 60, { status: "passed" }));
    expect(state.events).toHaveLength(2);
    expect(state.run?.status).toBe("passed");
  });

  it("keeps at most the server's history limit", () => {
    let state = reduce(EMPTY_STATE, snapshot({ run: run() }));
    for (let s = 0; s < HISTORY_LIMIT + 5; s++) state = reduce(state, tick(s));
    expect(state.history).toHaveLength(HISTORY_LIMIT);
    expect(state.history[0]?.second).toBe(5);
  });

  it("keeps the server's error message", () => {
    const error = { schema: LIVE_SCHEMA, type: "error", message: "message is not JSON" } as const;
    const state = reduce(EMPTY_STATE, error);
    expect(state.lastError).toBe("message is not JSON");
  });
});

describe("parseMessage", () => {
  it("accepts the protocol's message types only", () => {
    expect(parseMessage(JSON.stringify(tick(0)))?.type).toBe("tick");
    expect(parseMessage('{"type":"pong","schema":"stresslab.live/v1"}')?.type).toBe("pong");
    expect(parseMessage('{"type":"nope"}')).toBeNull();
    expect(parseMessage("not json")).toBeNull();
  });
});

describe("backoffMs", () => {
  it("doubles from half a second up to ten, with jitter on top", () => {
    expect(backoffMs(0, () => 0)).toBe(500);
    expect(backoffMs(1, () => 0)).toBe(1000);
    expect(backoffMs(10, () => 0)).toBe(10_000);
    expect(backoffMs(0, () => 1)).toBe(600);
  });
});
