/** One line of business narrative in plain words, generated from the live numbers. */

import type { ResilienceMoment } from "./derive";
import { formatInt, formatNumber, formatSpoken } from "./format";
import { fillTemplate } from "./profile";

export interface NarrativeFacts {
  /** The run is still going (present tense) or over (past tense). */
  running: boolean;
  /** At least one second of results has arrived. */
  hasData: boolean;
  elapsed_s: number;
  transactions: number;
  fraud_blocked: number;
  /** Money protected, already formatted in the audience's currency. */
  money: string;
  accuracy_pct: number | null;
  checks_per_second: number;
  resilience: ResilienceMoment;
}

function plural(n: number, one: string, many: string): string {
  return `${formatInt(n)} ${n === 1 ? one : many}`;
}

/** The clause about the latest failure, in plain words ("" when there was none). */
export function resilienceClause(facts: NarrativeFacts): string {
  const m = facts.resilience;
  switch (m.stage) {
    case "injected":
    case "detected":
      return facts.running
        ? `and even with a failure under way it is still deciding ${formatInt(
            facts.checks_per_second)} transactions a second`
        : "";
    case "recovering":
      return facts.running ? "and it is getting back to normal after a failure" : "";
    case "recovered":
      return m.recovered_at !== null && m.injected_at !== null
        ? `and it was back to normal ${formatSpoken(m.recovered_at - m.injected_at)} after a failure struck`
        : "";
    case "absorbed":
      return "and it absorbed a failure with no visible impact";
    default:
      return "";
  }
}

/** The line, e.g. "In 2 minutes the platform has checked 41,230 transactions, stopped …". */
export function narrative(facts: NarrativeFacts, template?: string): string {
  if (!facts.hasData) {
    return facts.running
      ? "The test has started: the first results arrive within seconds."
      : "Waiting for a run: the story starts as soon as the first transactions flow.";
  }
  const when = `In ${formatSpoken(facts.elapsed_s)}`;
  const verb = facts.running ? "has checked" : "checked";
  const accuracy = facts.accuracy_pct === null ? ""
    : `${formatNumber(facts.accuracy_pct, facts.accuracy_pct >= 99.95 ? 0 : 1)}%`;
  const values: Record<string, string> = {
    elapsed: formatSpoken(facts.elapsed_s),
    transactions: formatInt(facts.transactions),
    fraud: formatInt(facts.fraud_blocked),
    money: facts.money,
    accuracy,
    rate: formatInt(facts.checks_per_second),
    resilience: resilienceClause(facts),
  };
  if (template) return fillTemplate(template, values);
  const parts = [
    `${when} the platform ${verb} ${plural(facts.transactions, "transaction", "transactions")}`,
    `stopped ${plural(facts.fraud_blocked, "fraud attempt", "fraud attempts")}`,
  ];
  let line = `${parts.join(", ")} and protected ${facts.money}`;
  if (accuracy) line += `, with ${accuracy} of its decisions correct`;
  const clause = values.resilience;
  line += clause ? `, ${clause}.` : ".";
  return line;
}
