/** A small SVG line of the recent values, for the hero cards. */

const NS = "http://www.w3.org/2000/svg";

export class Sparkline {
  readonly element: SVGSVGElement;
  private readonly line: SVGPathElement;
  private readonly area: SVGPathElement;

  constructor(color: string, private readonly width = 220, private readonly height = 40) {
    this.element = document.createElementNS(NS, "svg");
    this.element.setAttribute("viewBox", `0 0 ${width} ${height}`);
    this.element.setAttribute("preserveAspectRatio", "none");
    this.element.classList.add("sparkline");
    const id = `spark-${Math.random().toString(36).slice(2, 8)}`;
    const defs = document.createElementNS(NS, "defs");
    const gradient = document.createElementNS(NS, "linearGradient");
    gradient.id = id;
    gradient.setAttribute("x1", "0");
    gradient.setAttribute("x2", "0");
    gradient.setAttribute("y1", "0");
    gradient.setAttribute("y2", "1");
    for (const [offset, opacity] of [["0", "0.35"], ["1", "0"]] as const) {
      const stop = document.createElementNS(NS, "stop");
      stop.setAttribute("offset", offset);
      stop.setAttribute("stop-color", color);
      stop.setAttribute("stop-opacity", opacity);
      gradient.append(stop);
    }
    defs.append(gradient);
    this.area = document.createElementNS(NS, "path");
    this.area.setAttribute("fill", `url(#${id})`);
    this.line = document.createElementNS(NS, "path");
    this.line.setAttribute("fill", "none");
    this.line.setAttribute("stroke", color);
    this.line.setAttribute("stroke-width", "2");
    this.line.setAttribute("vector-effect", "non-scaling-stroke");
    this.element.append(defs, this.area, this.line);
  }

  /** Values in time order; nulls are gaps in the data and are skipped. */
  update(values: (number | null)[]): void {
    const points = values.map((v, i) => [i, v] as const).filter(
      (p): p is readonly [number, number] => p[1] !== null && Number.isFinite(p[1]));
    if (points.length < 2) {
      this.line.setAttribute("d", "");
      this.area.setAttribute("d", "");
      return;
    }
    const ys = points.map((p) => p[1]);
    let min = Math.min(...ys);
    let max = Math.max(...ys);
    if (max - min < 1e-9) {
      min -= 1;
      max += 1;
    }
    const n = Math.max(1, values.length - 1);
    const pad = 3;
    const xy = points.map(([i, v]) => [
      (i / n) * this.width,
      pad + (1 - (v - min) / (max - min)) * (this.height - 2 * pad),
    ]);
    const d = xy.map(([x, y], i) => `${i ? "L" : "M"}${x!.toFixed(1)},${y!.toFixed(1)}`).join("");
    this.line.setAttribute("d", d);
    const first = xy[0]!;
    const last = xy[xy.length - 1]!;
    this.area.setAttribute("d", `${d}L${last[0]!.toFixed(1)},${this.height}L${first[0]!.toFixed(1)},${this.height}Z`);
  }
}
