"""LiveFeed: a run's aggregator turned into the dashboard's messages (measurement/live.py),
a tick each second and events as criteria are breached and recover; the same for every
runtime. And the snapshot's bounded history (thin_history)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from stresslab.judgement.business import PriceTable, estimate_cost
from stresslab.judgement.criteria import judge
from stresslab.judgement.summary import (
    agent_calls_per_transaction,
    agent_compute_ms,
    criterion_window,
    reported_tokens,
)
from stresslab.measurement.aggregate import (
    RunAggregator,
    accuracy_of,
    agents_of,
    latency_ms,
    window_metrics,
)
from stresslab.measurement.live import (
    AgentHealth,
    AgentLive,
    Cost,
    EventName,
    Hero,
    LiveEvent,
    LiveRun,
    Snapshot,
    Tick,
)
from stresslab.scenario.spec import ScenarioSpec

HISTORY_LIMIT = 7200
# A snapshot is sent to every viewer that joins or resyncs: bounded whatever the run's length.
SNAPSHOT_RECENT_S = 300  # the last five minutes, every second
SNAPSHOT_OLDER_TICKS = 300  # the seconds before them, thinned evenly to at most this many
UPTIME_ERROR_RATE = 0.01  # a second counts as "up" below the design brief's critical alert level
END_OF_RUN_METRICS = frozenset({"lost", "latency_drift_pct", "memory_growth_pct"})


class LiveFeed:
    """Turns a run's aggregator into ticks and events; the same for every runtime."""

    def __init__(
        self, spec: ScenarioSpec, run: LiveRun, prices: PriceTable, usd_to_currency: float
    ) -> None:
        self.spec = spec
        self.run = run
        self._prices = prices
        self._usd_to = usd_to_currency
        self._history: list[Tick] = []
        self._events: list[LiveEvent] = []
        self._up_seconds = 0
        self._counted_seconds = 0
        self._breached: set[str] = set()
        self._judged: set[str] = set()
        self._degradation = "NONE"

    @property
    def history(self) -> list[Tick]:
        return list(self._history)

    @property
    def events(self) -> list[LiveEvent]:
        return list(self._events)

    def event(self, name: EventName, at_s: float, **detail: Any) -> LiveEvent:
        event = LiveEvent(run_id=self.run.run_id, event=name, at_s=round(at_s, 3), detail=detail)
        self._events.append(event)
        if name in ("run_started", "run_stopped"):
            self.run = self.run.model_copy(update={"status": detail.get("status", self.run.status)})
        return event

    def set_degradation(self, level: str, at_s: float, **detail: Any) -> LiveEvent | None:
        """The level the next ticks carry; an event when it changes (detail: why, applied)."""
        if level == self._degradation:
            return None
        previous, self._degradation = self._degradation, level
        return self.event("degradation_changed", at_s, level=level, previous=previous, **detail)

    def tick(
        self,
        aggregator: RunAggregator,
        second: int,
        faults_active: list[str] | None = None,
        infra: dict[str, Any] | None = None,
        agent_load: dict[str, dict[str, Any]] | None = None,
    ) -> tuple[Tick, list[LiveEvent]]:
        """The tick for a closed second, and the criterion events it caused. The latest second
        ticked again is a correction (batches merged after it was ticked): it replaces it."""
        row = aggregator.second_row(second, faults_active or [])
        if self._history and self._history[-1].second == second:
            self._count_uptime(self._history.pop().window, -1)
        self._count_uptime(row)
        totals = aggregator.totals
        accuracy = accuracy_of(totals)
        latency = latency_ms(totals)
        agents = agents_of(totals)
        system = self.run.system_under_test
        cost = estimate_cost(self._prices, agent_compute_ms(agents) or 0.0,
                             agent_calls_per_transaction(agents, totals.ok),
                             reported_tokens(totals), system is not None and system.reference)
        per_txn = cost.usd
        usd_per_hour = per_txn * row["ok"] * 3600
        budget = self._prices.budget.usd_per_day
        tick = Tick(
            run_id=self.run.run_id,
            second=second,
            elapsed_s=float(second + 1),
            window=row,
            hero=Hero(
                transactions_processed=totals.ok,
                fraud_blocked=totals.tp,
                money_saved=round(totals.fraud_prevented * self._usd_to, 2),
                currency=self.run.currency,
                uptime_pct=round(100 * self._up_seconds / self._counted_seconds, 3)
                if self._counted_seconds else None,
                current_tps=float(row["ok"]),
                ai_accuracy=None if accuracy["accuracy"] is None
                else round(accuracy["accuracy"] * 100, 2),
            ),
            totals={
                "scheduled": totals.scheduled, "sent": totals.sent, "ok": totals.ok,
                "errors": totals.error_total, "timeouts": totals.timeouts,
                "dropped": totals.dropped,
                "errors_by_class": dict(totals.errors),
                "peak_tps": aggregator.seconds.peak_sent(),
                "p50_ms": latency["p50"], "p95_ms": latency["p95"], "p99_ms": latency["p99"],
                "accuracy": accuracy["accuracy"], "precision": accuracy["precision"],
                "recall": accuracy["recall"],
                "false_positive_rate": accuracy["false_positive_rate"],
                "by_pattern": accuracy["by_pattern"],
                "fraud_missed": round(totals.fraud_missed * self._usd_to, 2),
                "false_positive_amount": round(totals.false_positive * self._usd_to, 2),
            },
            agents=_agents_live(agents, row["agents"], agent_load or {}),
            cost=Cost(
                cost_per_transaction=per_txn * self._usd_to,
                usd_per_hour=usd_per_hour,
                projected_usd_per_day=usd_per_hour * 24,
                budget_usd_per_day=budget,
                budget_status="on track" if usd_per_hour * 24 <= budget else "over budget",
                pricing_source=self._prices.source,
                basis=cost.basis,
                model=cost.model,
            ),
            infra=infra,
            degradation=self._degradation,
            faults_active=faults_active or [],
        )
        self._history.append(tick)
        del self._history[:-HISTORY_LIMIT]
        return tick, self._judge_running(aggregator, second)

    def snapshot(self, runs: list[dict[str, Any]] | None = None) -> Snapshot:
        return Snapshot(run=self.run, history=thin_history(self._history), events=self.events,
                        runs=runs or [])

    def _count_uptime(self, row: Mapping[str, Any], sign: int = 1) -> None:
        if row["sent"] == 0:
            return
        self._counted_seconds += sign
        if (row["errors"] + row["timeouts"]) / row["sent"] < UPTIME_ERROR_RATE:
            self._up_seconds += sign

    def _judge_running(self, aggregator: RunAggregator, second: int) -> list[LiveEvent]:
        """Criteria on the run so far, and each phase's once it is over: events on each change.

        Metrics that only mean something once every answer is in (lost, drift, memory growth)
        are left to the summary: mid-run, requests in flight would look lost.
        """
        events = []
        # Criteria over the same seconds share one set of metrics: each set is a pass over the
        # run's latency histograms, the costliest part of a tick.
        metrics_of: dict[tuple[int, int] | None, dict[str, float | None]] = {}
        for criterion in self.spec.criteria:
            key = f"{criterion.expr} [{criterion.window_label}]"
            if (criterion.threshold.metric in END_OF_RUN_METRICS or key in self._judged
                    or criterion.fault is not None):  # per fault, judged by the summary
                continue
            window = criterion_window(criterion, self.spec)
            if window is not None:
                if second < window[1]:  # one second of grace for the phase's last answers
                    continue
                self._judged.add(key)
            if window not in metrics_of:
                metrics_of[window] = self._window_metrics(aggregator, window, second)
            result = judge(criterion, metrics_of[window])
            if result.observed is None:
                continue
            if not result.passed and key not in self._breached:
                self._breached.add(key)
                events.append(self.event("criterion_breached", second + 1, criterion=key,
                                         observed=result.observed))
            elif result.passed and key in self._breached:
                self._breached.discard(key)
                events.append(self.event("criterion_recovered", second + 1, criterion=key,
                                         observed=result.observed))
        return events

    @staticmethod
    def _window_metrics(
        aggregator: RunAggregator, window: tuple[int, int] | None, second: int,
    ) -> dict[str, float | None]:
        """A phase's metrics, or (window None) the run's so far."""
        if window is None:
            stats, (start, end) = aggregator.totals, (0, second + 1)
        else:
            (start, end), stats = window, aggregator.window(*window)
        return window_metrics(stats, end - start, aggregator.expected_between(start, end))


def thin_history(
    history: list[Tick], recent: int = SNAPSHOT_RECENT_S, older: int = SNAPSHOT_OLDER_TICKS,
) -> list[Tick]:
    """The recent ticks whole, the ones before them evenly thinned (the first one kept)."""
    if len(history) <= recent + older:
        return list(history)
    before, latest = history[:-recent], history[-recent:]
    return before[::math.ceil(len(before) / older)] + latest


def _agents_live(
    totals: dict[str, dict[str, Any]], window: dict[str, dict[str, Any]],
    load: dict[str, dict[str, Any]],
) -> list[AgentLive]:
    time_spent = {
        name: (a["avg_ms"] or 0.0) * a["calls"] for name, a in totals.items()
    }
    all_time = sum(time_spent.values())
    agents = []
    for name, agent in totals.items():
        recent = window.get(name, {})
        recent_calls, recent_errors = recent.get("calls", 0), recent.get("errors", 0)
        health: AgentHealth = "unknown"
        if recent_calls:
            error_share = recent_errors / recent_calls
            health = "down" if error_share >= 0.5 else "degraded" if error_share > 0.01 \
                else "healthy"
        reported = load.get(name, {})
        if reported.get("healthy") is False:
            health = "down"
        agents.append(AgentLive(
            name=name, calls=agent["calls"], errors=agent["errors"], avg_ms=agent["avg_ms"],
            p95_ms=agent["p95_ms"],
            share_pct=round(100 * time_spent[name] / all_time, 2) if all_time else None,
            load_pct=reported.get("load_pct"), health=health,
        ))
    return agents
