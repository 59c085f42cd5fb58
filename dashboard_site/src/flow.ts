/**
 * The transaction flow: dots moving Ingestion → the four agents (in parallel, as the
 * orchestrator calls them) → Decision → approved / review / blocked, drawn on a canvas.
 * Dot rate follows the answered transactions per second, dot colour the window's decisions,
 * agent dwell the agents' measured time; failures turn red at the agent that failed.
 */

import type { DecisionShares } from "./derive";
import type { AgentHealth } from "./protocol";

export interface FlowAgent {
  name: string;
  label: string;
  health: AgentHealth;
  avg_ms: number | null;
  /** errors / calls in the latest window */
  error_share: number;
}

export interface FlowInput {
  /** transactions answered per second (window.ok) */
  answered_per_s: number;
  /** transactions failed per second (errors + timeouts) */
  failed_per_s: number;
  shares: DecisionShares | null;
  agents: FlowAgent[];
}

type Outcome = "approve" | "review" | "block" | "failed";

const OUTCOME_COLOR: Record<Outcome, string> = {
  approve: "#34d399", review: "#fbbf24", block: "#fb7185", failed: "#f43f5e",
};
const SPARK_COLOR = "#7dd3fc";
const HEALTH_COLOR: Record<AgentHealth, string> = {
  healthy: "#34d399", degraded: "#fbbf24", down: "#fb7185", unknown: "#64748b",
};
const HEALTH_WORD: Record<AgentHealth, string> = {
  healthy: "working normally", degraded: "struggling", down: "failing", unknown: "standing by",
};
const MAX_DOTS_PER_S = 40;
const DOT_SIZES = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000];

/** How many transactions one dot stands for, so that at most ~40 dots a second fly. */
export function transactionsPerDot(perSecond: number): number {
  return DOT_SIZES.find((n) => perSecond / n <= MAX_DOTS_PER_S) ?? 10_000;
}

/** Pick an outcome for a dot from the shares, with a number in [0, 1). */
export function pickOutcome(shares: DecisionShares | null, failedShare: number, r: number):
    Outcome {
  if (r < failedShare) return "failed";
  if (!shares) return "approve";
  const x = (r - failedShare) / Math.max(1e-9, 1 - failedShare);
  if (x < shares.block) return "block";
  if (x < shares.block + shares.review) return "review";
  return "approve";
}

/** The same picture: a page re-renders on every message (status, heartbeat), not only on a tick. */
export function sameFlowInput(a: FlowInput, b: FlowInput): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Whether a frame would look the same as the last one drawn: nothing flowing, no dot still
 * flying, no agent blinking and nothing new to draw. Then the frame is skipped, so a page
 * left open between runs costs no drawing. */
export function flowIsStill(input: FlowInput, dotsInFlight: number, changed: boolean): boolean {
  return !changed && dotsInFlight === 0 && input.answered_per_s + input.failed_per_s <= 0
    && !input.agents.some((a) => a.health === "down");
}

interface Point { x: number; y: number }
interface Curve { a: Point; b: Point; c: Point; d: Point }

interface Dot {
  born: number;
  outcome: Outcome;
  /** seconds each agent holds this transaction */
  dwell: number[];
  /** the agent at which a failed dot dies */
  failAt: number;
}

const IN_S = 1.0;
const OUT_S = 0.8;
const DECIDE_S = 1.1;

function bezier(c: Curve, t: number): Point {
  const u = 1 - t;
  const a = u * u * u;
  const b = 3 * u * u * t;
  const d = 3 * u * t * t;
  const e = t * t * t;
  return { x: a * c.a.x + b * c.b.x + d * c.c.x + e * c.d.x,
           y: a * c.a.y + b * c.b.y + d * c.c.y + e * c.d.y };
}

function curve(from: Point, to: Point): Curve {
  const dx = (to.x - from.x) * 0.5;
  return { a: from, b: { x: from.x + dx, y: from.y }, c: { x: to.x - dx, y: to.y }, d: to };
}

function ease(t: number): number {
  return t < 0.5 ? 2 * t * t : 1 - (-2 * t + 2) ** 2 / 2;
}

function sprite(color: string, radius: number): HTMLCanvasElement {
  const size = radius * 2;
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = size;
  const g = canvas.getContext("2d")!;
  const gradient = g.createRadialGradient(radius, radius, 0, radius, radius, radius);
  gradient.addColorStop(0, "rgba(255,255,255,1)");
  gradient.addColorStop(0.18, color);
  gradient.addColorStop(0.45, `${color}55`);
  gradient.addColorStop(1, `${color}00`);
  g.fillStyle = gradient;
  g.fillRect(0, 0, size, size);
  return canvas;
}

/** Room the widest outcome label ("Sent for review" and its share) needs right of its dot. */
export const OUTCOME_LABEL_WIDTH = 124;

export interface FlowLayout {
  ingest: Point; agents: Point[]; decision: Point; outcomes: Record<Outcome, Point>;
}

/** Where the flow's nodes sit; on a narrow (phone) canvas the columns close up from the right
 * so the outcome labels stay inside it. */
export function flowLayout(w: number, h: number, n: number): FlowLayout {
  const outcomeX = Math.min(w * 0.895, w - OUTCOME_LABEL_WIDTH);
  const k = Math.max(0, outcomeX / (w * 0.895));
  const top = h * 0.13;
  const span = h * 0.74;
  const agents = Array.from({ length: n }, (_, i) => ({
    x: w * 0.44 * k, y: n === 1 ? h / 2 : top + (span * i) / (n - 1) }));
  return {
    ingest: { x: w * 0.085 * k, y: h / 2 },
    agents,
    decision: { x: w * 0.71 * k, y: h / 2 },
    outcomes: {
      approve: { x: w * 0.895 * k, y: h * 0.24 },
      review: { x: w * 0.895 * k, y: h * 0.5 },
      block: { x: w * 0.895 * k, y: h * 0.76 },
      failed: { x: w * 0.44 * k, y: h / 2 },
    },
  };
}

export class TransactionFlow {
  private readonly ctx: CanvasRenderingContext2D;
  private input: FlowInput = { answered_per_s: 0, failed_per_s: 0, shares: null, agents: [] };
  private dots: Dot[] = [];
  private owed = 0;
  private last = 0;
  private width = 0;
  private height = 0;
  private dpr = 1;
  private sprites = new Map<string, HTMLCanvasElement>();
  private running = false;
  /** Links and nodes change at most once a second: drawn once into these, then copied. */
  private linksLayer = document.createElement("canvas");
  private nodesLayer = document.createElement("canvas");
  private layersDirty = true;
  /** Something changed since the last frame drawn (input, size, waiting text). */
  private changed = true;
  private painted = 0;

  constructor(private readonly canvas: HTMLCanvasElement, private waitingText = "Waiting for a run") {
    this.ctx = canvas.getContext("2d")!;
    new ResizeObserver(() => this.resize()).observe(canvas);
    this.resize();
  }

  update(input: FlowInput): void {
    if (sameFlowInput(this.input, input)) return;
    this.input = input;
    this.layersDirty = true;
    this.changed = true;
    const perDot = transactionsPerDot(input.answered_per_s + input.failed_per_s);
    this.canvas.dataset.rate = String(input.answered_per_s);
    this.canvas.dataset.perDot = String(perDot);
  }

  setWaitingText(text: string): void {
    this.waitingText = text;
    this.changed = true;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.last = performance.now();
    const frame = (now: number) => {
      if (!this.running) return;
      this.step(Math.min(0.1, (now - this.last) / 1000), now / 1000);
      this.last = now;
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  }

  stop(): void {
    this.running = false;
  }

  private resize(): void {
    const rect = this.canvas.getBoundingClientRect();
    this.dpr = Math.min(2, window.devicePixelRatio || 1);
    this.width = Math.max(1, rect.width);
    this.height = Math.max(1, rect.height);
    this.canvas.width = Math.round(this.width * this.dpr);
    this.canvas.height = Math.round(this.height * this.dpr);
    this.layersDirty = true;
    this.changed = true;
  }

  private redrawLayers(L: ReturnType<TransactionFlow["layout"]>): void {
    const layers: [HTMLCanvasElement, (g: CanvasRenderingContext2D) => void][] = [
      [this.linksLayer, (g) => this.drawLinks(g, L)],
      [this.nodesLayer, (g) => this.drawNodes(g, L)],
    ];
    for (const [layer, draw] of layers) {
      layer.width = this.canvas.width;
      layer.height = this.canvas.height;
      const g = layer.getContext("2d")!;
      g.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
      draw(g);
    }
    this.layersDirty = false;
  }

  private spriteFor(color: string, radius: number): HTMLCanvasElement {
    const key = `${color}/${radius}`;
    let s = this.sprites.get(key);
    if (!s) {
      s = sprite(color, radius);
      this.sprites.set(key, s);
    }
    return s;
  }

  private layout(): FlowLayout {
    return flowLayout(this.width, this.height, Math.max(1, this.input.agents.length || 4));
  }

  private spawn(now: number, dt: number): void {
    const { answered_per_s, failed_per_s, shares, agents } = this.input;
    const total = answered_per_s + failed_per_s;
    if (total <= 0) {
      this.owed = 0;
      return;
    }
    const perDot = transactionsPerDot(total);
    this.owed += (total / perDot) * dt;
    const slowest = Math.max(1, ...agents.map((a) => a.avg_ms ?? 0));
    while (this.owed >= 1) {
      this.owed -= 1;
      const outcome = pickOutcome(shares, failed_per_s / total, Math.random());
      const dwell = (agents.length ? agents : [null, null, null, null]).map((a) =>
        0.15 + 0.65 * ((a?.avg_ms ?? 0) / slowest) + Math.random() * 0.08);
      let failAt = -1;
      if (outcome === "failed" && agents.length) {
        const weights = agents.map((a) => a.error_share + (a.health === "down" ? 1 : 0) + 1e-6);
        let r = Math.random() * weights.reduce((x, y) => x + y, 0);
        failAt = weights.findIndex((wgt) => (r -= wgt) < 0);
      }
      this.dots.push({ born: now - Math.random() * dt, outcome, dwell, failAt });
    }
  }

  private step(dt: number, now: number): void {
    if (flowIsStill(this.input, this.dots.length, this.changed)) return;
    this.changed = false;
    this.canvas.dataset.painted = String(++this.painted);
    const g = this.ctx;
    const L = this.layout();
    if (this.layersDirty) this.redrawLayers(L);
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.clearRect(0, 0, this.canvas.width, this.canvas.height);
    g.drawImage(this.linksLayer, 0, 0);
    g.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    this.spawn(now, dt);
    g.globalCompositeOperation = "lighter";
    const keep: Dot[] = [];
    for (const dot of this.dots) {
      if (this.drawDot(dot, now, L)) keep.push(dot);
    }
    this.dots = keep;
    g.globalCompositeOperation = "source-over";
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.drawImage(this.nodesLayer, 0, 0);
    g.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    this.drawAlarms(L, now);
    if (this.input.answered_per_s + this.input.failed_per_s <= 0 && this.dots.length === 0) {
      g.fillStyle = "rgba(139, 151, 171, 0.85)";
      g.font = "500 15px 'Inter Variable', Inter, system-ui, sans-serif";
      g.textAlign = "center";
      g.fillText(this.waitingText, (L.ingest.x + L.agents[0]!.x) / 2, this.height * 0.5 - 22);
    }
  }

  /** false when the dot has finished its journey. */
  private drawDot(dot: Dot, now: number, L: ReturnType<TransactionFlow["layout"]>): boolean {
    const age = now - dot.born;
    const n = L.agents.length;
    const maxDwell = Math.max(...dot.dwell);
    if (age < IN_S) {
      const t = ease(age / IN_S);
      for (let i = 0; i < n; i++) this.spark(bezier(curve(L.ingest, L.agents[i]!), t), SPARK_COLOR, 0.9);
      return true;
    }
    const atAgents = age - IN_S;
    if (dot.outcome === "failed" && dot.failAt >= 0) {
      const fade = 1 - atAgents / 0.9;
      if (fade <= 0) return false;
      const p = L.agents[dot.failAt]!;
      this.spark({ x: p.x + 26 + atAgents * 30, y: p.y - atAgents * 8 }, OUTCOME_COLOR.failed, fade, 9);
      return true;
    }
    if (atAgents < maxDwell + OUT_S) {
      for (let i = 0; i < n; i++) {
        const leave = atAgents - (dot.dwell[i] ?? 0);
        if (leave < 0) continue;
        const t = ease(Math.min(1, leave / OUT_S));
        if (t < 1) this.spark(bezier(curve(L.agents[i]!, L.decision), t), SPARK_COLOR, 0.75);
      }
      return true;
    }
    const decide = (atAgents - maxDwell - OUT_S) / DECIDE_S;
    if (decide >= 1) return false;
    const outcome = dot.outcome === "failed" ? "block" : dot.outcome;
    const color = dot.outcome === "failed" ? OUTCOME_COLOR.failed : OUTCOME_COLOR[outcome];
    const end = dot.outcome === "failed"
      ? { x: L.decision.x + 60, y: L.decision.y + 40 } : L.outcomes[outcome];
    const p = bezier(curve(L.decision, end), ease(decide));
    this.spark(p, color, dot.outcome === "failed" ? 1 - decide : 1, 12);
    return true;
  }

  private spark(p: Point, color: string, alpha: number, radius = 8): void {
    const g = this.ctx;
    const s = this.spriteFor(color, radius);
    g.globalAlpha = Math.max(0, Math.min(1, alpha));
    g.drawImage(s, p.x - radius, p.y - radius);
    g.globalAlpha = 1;
  }

  private drawLinks(g: CanvasRenderingContext2D, L: ReturnType<TransactionFlow["layout"]>): void {
    g.lineWidth = 1.5;
    const stroke = (c: Curve, color: string) => {
      g.strokeStyle = color;
      g.beginPath();
      g.moveTo(c.a.x, c.a.y);
      g.bezierCurveTo(c.b.x, c.b.y, c.c.x, c.c.y, c.d.x, c.d.y);
      g.stroke();
    };
    L.agents.forEach((a, i) => {
      const health = this.input.agents[i]?.health ?? "unknown";
      const color = health === "down" ? "rgba(251,113,133,0.35)" : "rgba(125,211,252,0.14)";
      stroke(curve(L.ingest, a), color);
      stroke(curve(a, L.decision), color);
    });
    for (const o of ["approve", "review", "block"] as const) {
      stroke(curve(L.decision, L.outcomes[o]), `${OUTCOME_COLOR[o]}33`);
    }
  }

  private node(g: CanvasRenderingContext2D, p: Point, w: number, h: number, title: string,
               sub: string, accent: string, glow: number): void {
    const x = p.x - w / 2;
    const y = p.y - h / 2;
    g.save();
    g.shadowColor = accent;
    g.shadowBlur = 12 + 18 * glow;
    g.fillStyle = "rgba(12, 19, 33, 0.92)";
    g.beginPath();
    g.roundRect(x, y, w, h, 12);
    g.fill();
    g.restore();
    g.strokeStyle = `${accent}aa`;
    g.lineWidth = 1.25;
    g.beginPath();
    g.roundRect(x, y, w, h, 12);
    g.stroke();
    g.fillStyle = accent;
    g.beginPath();
    g.arc(x + 16, p.y - (sub ? 8 : 0), 4, 0, Math.PI * 2);
    g.fill();
    g.textAlign = "left";
    g.fillStyle = "#e6edf7";
    g.font = "600 14px 'Inter Variable', Inter, system-ui, sans-serif";
    g.fillText(title, x + 28, p.y - (sub ? 3 : -5), w - 36);
    if (sub) {
      g.fillStyle = "#8b97ab";
      g.font = "500 12px 'Inter Variable', Inter, system-ui, sans-serif";
      g.fillText(sub, x + 28, p.y + 15, w - 36);
    }
  }

  /** A blinking ring around an agent that is down (cheap: no shadows, every frame). */
  private drawAlarms(L: ReturnType<TransactionFlow["layout"]>, now: number): void {
    const g = this.ctx;
    const nodeW = Math.min(210, this.width * 0.14);
    const gap = L.agents.length > 1 ? L.agents[1]!.y - L.agents[0]!.y : 80;
    const nodeH = Math.max(34, Math.min(56, gap - 10));
    L.agents.forEach((p, i) => {
      if (this.input.agents[i]?.health !== "down") return;
      g.strokeStyle = `rgba(251, 113, 133, ${(0.35 + 0.35 * Math.sin(now * 8)).toFixed(3)})`;
      g.lineWidth = 3;
      g.beginPath();
      g.roundRect(p.x - nodeW / 2 - 4, p.y - nodeH / 2 - 4, nodeW + 8, nodeH + 8, 14);
      g.stroke();
    });
  }

  private drawNodes(g: CanvasRenderingContext2D, L: ReturnType<TransactionFlow["layout"]>): void {
    const { agents, answered_per_s, failed_per_s, shares } = this.input;
    const active = answered_per_s + failed_per_s > 0;
    const pulse = active ? 0.8 : 0;
    const nodeW = Math.min(210, this.width * 0.14);
    const gap = L.agents.length > 1 ? L.agents[1]!.y - L.agents[0]!.y : 80;
    const nodeH = Math.max(34, Math.min(56, gap - 10));
    const compact = nodeH < 48;
    this.node(g, L.ingest, Math.min(170, this.width * 0.12), 58, "Incoming", "transactions",
      "#38bdf8", pulse);
    L.agents.forEach((p, i) => {
      const agent = agents[i];
      const health = agent?.health ?? "unknown";
      this.node(g, p, nodeW, nodeH, agent ? agent.label : `Agent ${i + 1}`,
        compact ? "" : agent ? HEALTH_WORD[health] : "standing by", HEALTH_COLOR[health],
        health === "down" ? 1 : pulse * 0.4);
    });
    this.node(g, L.decision, Math.min(170, this.width * 0.12), 58, "Decision", "in real time",
      "#a78bfa", pulse);
    const words: Record<"approve" | "review" | "block", string> = {
      approve: "Approved", review: "Sent for review", block: "Blocked",
    };
    for (const o of ["approve", "review", "block"] as const) {
      const p = L.outcomes[o];
      g.fillStyle = OUTCOME_COLOR[o];
      g.beginPath();
      g.arc(p.x, p.y, 6, 0, Math.PI * 2);
      g.fill();
      g.textAlign = "left";
      g.fillStyle = "#e6edf7";
      g.font = "600 14px 'Inter Variable', Inter, system-ui, sans-serif";
      g.fillText(words[o], p.x + 16, p.y - 2);
      g.fillStyle = "#8b97ab";
      g.font = "500 12px 'Inter Variable', Inter, system-ui, sans-serif";
      const share = shares ? `${(shares[o] * 100).toFixed(shares[o] < 0.1 ? 1 : 0)}%` : "—";
      g.fillText(share, p.x + 16, p.y + 15);
    }
  }
}
