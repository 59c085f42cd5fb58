/** Live state: a pure reducer over stresslab.live/v1 messages, and the WebSocket that feeds it. */

import {
  isServerMessage,
  type LiveEvent,
  type LiveRun,
  type RunRecord,
  type ServerMessage,
  type Tick,
} from "./protocol";

export const HISTORY_LIMIT = 7200; // same bound as the server's history

export interface LiveState {
  run: LiveRun | null;
  history: Tick[];
  events: LiveEvent[];
  runs: RunRecord[];
  latest: Tick | null;
  lastError: string | null;
  /** The client saw a run it has no description of and should ask for a snapshot. */
  needsResync: boolean;
}

export const EMPTY_STATE: LiveState = {
  run: null,
  history: [],
  events: [],
  runs: [],
  latest: null,
  lastError: null,
  needsResync: false,
};

function eventKey(event: LiveEvent): string {
  return `${event.run_id}|${event.event}|${event.at_s}|${JSON.stringify(event.detail ?? {})}`;
}

function sortedUnique(ticks: Tick[]): Tick[] {
  const bySecond = new Map<number, Tick>();
  for (const tick of ticks) bySecond.set(tick.second, tick);
  return [...bySecond.values()].sort((a, b) => a.second - b.second).slice(-HISTORY_LIMIT);
}

function withTick(history: Tick[], tick: Tick): Tick[] {
  const last = history[history.length - 1];
  if (!last || tick.second > last.second) {
    const next = history.length >= HISTORY_LIMIT ? history.slice(1) : history.slice();
    next.push(tick);
    return next;
  }
  return sortedUnique([...history, tick]); // a late or repeated second replaces its row
}

/** The state after one message. Pure: the same inputs always give the same state. */
export function reduce(state: LiveState, message: ServerMessage): LiveState {
  switch (message.type) {
    case "snapshot": {
      const history = sortedUnique(message.history ?? []);
      const runId = message.run?.run_id;
      const seen = new Set<string>();
      const events = (message.events ?? []).filter((e) => {
        const key = eventKey(e);
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      });
      return {
        run: message.run ?? null,
        history: runId ? history.filter((t) => t.run_id === runId) : history,
        events,
        runs: message.runs ?? [],
        latest: history[history.length - 1] ?? null,
        lastError: null,
        needsResync: false,
      };
    }
    case "tick": {
      if (!state.run || message.run_id !== state.run.run_id) {
        const sameUnknownRun = state.latest?.run_id === message.run_id && !state.run;
        const history = sameUnknownRun ? withTick(state.history, message) : [message];
        return {
          ...state,
          run: null,
          history,
          events: sameUnknownRun ? state.events : [],
          latest: history[history.length - 1] ?? message,
          needsResync: true,
        };
      }
      const history = withTick(state.history, message);
      return { ...state, history, latest: history[history.length - 1] ?? message };
    }
    case "event": {
      const key = eventKey(message);
      if (state.events.some((e) => eventKey(e) === key)) return state;
      if (message.event === "run_started" &&
          (!state.run || state.run.run_id !== message.run_id)) {
        return { ...state, run: null, history: [], latest: null, events: [message],
                 needsResync: true };
      }
      if (state.run && message.run_id !== state.run.run_id) {
        return { ...state, needsResync: true };
      }
      let run = state.run;
      if (run && (message.event === "run_started" || message.event === "run_stopped")) {
        const status = message.detail?.status;
        if (typeof status === "string") run = { ...run, status };
        else if (message.event === "run_stopped" && run.status === "running") {
          run = { ...run, status: "stopped" };
        }
      }
      return { ...state, run, events: [...state.events, message] };
    }
    case "error":
      return { ...state, lastError: message.message };
    case "pong":
      return state;
  }
}

/** Parse one WebSocket text frame; null for anything that is not a known message. */
export function parseMessage(text: string): ServerMessage | null {
  try {
    const value: unknown = JSON.parse(text);
    return isServerMessage(value) ? value : null;
  } catch {
    return null;
  }
}

/** Reconnect delay: doubling from 0.5 s up to 10 s, with up to 20% jitter. */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(10_000, 500 * 2 ** Math.max(0, attempt));
  return Math.round(base * (1 + 0.2 * random()));
}

export type ConnectionStatus = "connecting" | "open" | "closed";

export interface LiveListener {
  (state: LiveState, message: ServerMessage | null): void;
}

/** Keeps one WebSocket open to the live feed, reconnecting with backoff. */
export class LiveClient {
  state: LiveState = EMPTY_STATE;
  status: ConnectionStatus = "connecting";
  private socket: WebSocket | null = null;
  private attempt = 0;
  private listeners: LiveListener[] = [];
  private statusListeners: ((status: ConnectionStatus) => void)[] = [];
  private pingTimer: number | undefined;
  private lastMessageAt = 0;
  private stopped = false;

  private refusedListeners: (() => void)[] = [];
  /** The last frame: when it arrived (epoch ms, before parsing) and its length in characters. */
  lastFrame = { receivedMs: 0, chars: 0 };

  /** `url` may be a function: it is asked before every (re)connection, so a refreshed token
   * is the one sent; null means there is no credential to connect with any more. */
  constructor(private readonly url: string | (() => string | null)) {}

  /** Called when the url function answers null: the client stops trying. */
  onRefused(listener: () => void): void {
    this.refusedListeners.push(listener);
  }

  onState(listener: LiveListener): void {
    this.listeners.push(listener);
  }

  onStatus(listener: (status: ConnectionStatus) => void): void {
    this.statusListeners.push(listener);
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    window.clearInterval(this.pingTimer);
    this.socket?.close();
  }

  private setStatus(status: ConnectionStatus): void {
    this.status = status;
    for (const listener of this.statusListeners) listener(status);
  }

  private send(message: { type: "ping" | "resync" }): void {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  private connect(): void {
    const url = typeof this.url === "string" ? this.url : this.url();
    if (url === null) {
      this.stopped = true;
      this.setStatus("closed");
      for (const listener of this.refusedListeners) listener();
      return;
    }
    this.setStatus("connecting");
    let socket: WebSocket;
    try {
      socket = new WebSocket(url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      this.attempt = 0;
      this.lastMessageAt = Date.now();
      this.setStatus("open");
      window.clearInterval(this.pingTimer);
      this.pingTimer = window.setInterval(() => this.keepAlive(), 10_000);
    };
    socket.onmessage = (frame: MessageEvent) => {
      this.lastMessageAt = Date.now();
      if (typeof frame.data !== "string") return;
      this.lastFrame = { receivedMs: performance.timeOrigin + performance.now(),
                         chars: frame.data.length };
      const message = parseMessage(frame.data);
      if (!message) return;
      this.state = reduce(this.state, message);
      if (this.state.needsResync && message.type !== "snapshot") {
        this.send({ type: "resync" });
        this.state = { ...this.state, needsResync: false };
      }
      for (const listener of this.listeners) listener(this.state, message);
    };
    socket.onclose = () => {
      window.clearInterval(this.pingTimer);
      if (this.socket === socket) this.socket = null;
      this.setStatus("closed");
      if (!this.stopped) this.scheduleReconnect();
    };
    socket.onerror = () => socket.close();
  }

  private keepAlive(): void {
    // A connection silent for 30 s despite pings is dead even if the browser has not noticed.
    if (Date.now() - this.lastMessageAt > 30_000) {
      this.socket?.close();
      return;
    }
    this.send({ type: "ping" });
  }

  private scheduleReconnect(): void {
    const delay = backoffMs(this.attempt++);
    window.setTimeout(() => {
      if (!this.stopped) this.connect();
    }, delay);
  }
}
