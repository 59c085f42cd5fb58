/** Tooltip text for the charts' custom formatters: every line escaped, names shown as text. */

import { escapeHtml, formatClock, formatInt, humanize } from "../format";

/** Lines joined into tooltip markup; each line is escaped, so only the <br/> is markup. */
export function tooltipHtml(...lines: string[]): string {
  return lines.filter((line) => line !== "").map(escapeHtml).join("<br/>");
}

function span(bucket: readonly [number, number] | undefined): string {
  return bucket ? `${formatClock(bucket[0])}–${formatClock(bucket[1])}` : "";
}

/** One cell of the agents' health heat map. */
export function agentHealthTooltip(
  agent: string, bucket: readonly [number, number] | undefined, failedPct: number | string,
  calls: number,
): string {
  const when = span(bucket);
  return tooltipHtml(`${humanize(agent)}${when ? ` · ${when}` : ""}`,
    failedPct === "-" ? "no calls" : `${failedPct}% of ${formatInt(calls)} calls failed`);
}

/** One cell of the fraud-pattern detection heat map. */
export function patternTooltip(
  pattern: string, bucket: readonly [number, number] | undefined, flaggedPct: number | null,
  seen: number,
): string {
  return tooltipHtml(humanize(pattern), span(bucket),
    flaggedPct === null ? "not seen" : `${flaggedPct}% flagged of ${formatInt(seen)}`);
}
