import { describe, expect, it } from "vitest";

import { escapeHtml } from "../src/format";
import { agentHealthTooltip, patternTooltip, tooltipHtml } from "../src/ui/tooltips";

const HOSTILE = "<img src=x onerror=window.__pwned=1>";

describe("tooltips", () => {
  it("escapes every character that could open markup or leave an attribute", () => {
    expect(escapeHtml(`<a href="x" title='y'>&\`</a>`))
      .toBe("&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&#96;&lt;/a&gt;");
    expect(escapeHtml(42)).toBe("42");
  });
  it("joins escaped lines, so only its own <br/> is markup", () => {
    expect(tooltipHtml(HOSTILE, "", "b")).toBe(
      "&lt;img src=x onerror=window.__pwned=1&gt;<br/>b");
  });
  it("shows an agent name from the target as text", () => {
    const html = agentHealthTooltip(HOSTILE, [0, 60], 12.5, 400);
    expect(html).not.toContain("<img");
    expect(html).toContain("&lt;img src=x onerror=window. pwned=1&gt;");
    expect(html).toContain("12.5% of 400 calls failed");
    expect(agentHealthTooltip("geo_risk", undefined, "-", 0)).toBe("Geo risk<br/>no calls");
  });
  it("shows a pattern name as text", () => {
    const html = patternTooltip(`"><script>alert(1)</script>`, [60, 120], null, 0);
    expect(html).not.toContain("<script");
    expect(html).toContain("not seen");
  });
});
