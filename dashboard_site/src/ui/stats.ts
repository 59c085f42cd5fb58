/** A strip of labelled figures for the engineering pages. */

import { AnimatedNumber } from "./animated";
import { h, setText } from "./dom";

export interface StatSpec {
  id: string;
  label: string;
  format: (value: number) => string;
}

export class StatStrip {
  readonly element: HTMLElement;
  private readonly values = new Map<string, AnimatedNumber>();
  private readonly notes = new Map<string, HTMLElement>();

  constructor(specs: StatSpec[]) {
    this.element = h("section", { class: "stat-strip" });
    for (const spec of specs) {
      const value = h("div", { class: "stat-value", "data-testid": `stat-${spec.id}`,
                               "data-value": "" });
      const note = h("div", { class: "stat-note" });
      this.values.set(spec.id, new AnimatedNumber(value, spec.format, 600));
      this.notes.set(spec.id, note);
      this.element.append(h("div", { class: "stat" },
        h("div", { class: "stat-label" }, spec.label), value, note));
    }
  }

  set(id: string, value: number | null, note = ""): void {
    this.values.get(id)?.set(value);
    setText(this.notes.get(id) ?? null, note);
  }
}
