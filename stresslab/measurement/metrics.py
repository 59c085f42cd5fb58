"""MetricsBatch, the worker-to-aggregator wire format, and the window statistics behind it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Literal

from hdrh.histogram import HdrHistogram
from pydantic import BaseModel, ConfigDict, Field

from stresslab.scenario.settings import MAX_NAMES

METRICS_SCHEMA: Literal["stresslab.metrics/v1"] = "stresslab.metrics/v1"
LOWEST_US = 1
HIGHEST_US = 3_600_000_000
SIGNIFICANT_DIGITS = 3
COARSE_DIGITS = 2  # schedule lag and per-agent times: 1% resolution is plenty, 10x cheaper
ERROR_CLASSES = (
    "connect", "http_4xx", "http_429", "http_5xx", "invalid_response", "oversized", "other",
)
OTHER = "other"
UNNAMED = "unnamed"
_MARKUP = str.maketrans("", "", "<>&\"'`")

Count = Annotated[int, Field(ge=0)]


def new_histogram(digits: int = SIGNIFICANT_DIGITS) -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, digits)


def encode_histogram(histogram: HdrHistogram) -> str:
    if histogram.get_total_count() == 0:
        return ""
    return str(histogram.encode(), "ascii")


def decode_histogram(encoded: str, digits: int = SIGNIFICANT_DIGITS) -> HdrHistogram:
    return HdrHistogram.decode(encoded) if encoded else new_histogram(digits)


def add_encoded(histogram: HdrHistogram, encoded: str) -> None:
    """Merge an encoded histogram into histogram (exact: counts add bucket by bucket)."""
    if encoded:
        histogram.add(HdrHistogram.decode(encoded))


def clean_name(raw: str, max_length: int) -> str:
    """A name from the target made safe to show and store: printable, no markup, short."""
    kept = "".join(ch for ch in raw[: max_length * 4] if ch.isprintable()).translate(_MARKUP)
    return kept.strip()[:max_length] or UNNAMED


class NameBook:
    """The first `limit` distinct names a target answers keep their own entry; later ones
    count as `other`, so a target that echoes ids cannot grow the metrics without bound."""

    def __init__(self, limit: int, max_length: int) -> None:
        self._limit, self._max_length = limit, max_length
        self._kept: set[str] = set()
        self._seen: dict[str, tuple[str, bool]] = {}  # raw -> (name, cleaned), bounded

    def __len__(self) -> int:
        return len(self._seen) + len(self._kept)

    def admit(self, raw: str) -> tuple[str, bool, bool]:
        """(name to count under, folded into `other`, cleaned)."""
        known = self._seen.get(raw)
        if known is not None:
            return known[0], False, known[1]
        if len(self._kept) >= self._limit:
            # a target echoing ids lands here on every answer: no cleaning, no caching
            return (raw, False, False) if raw in self._kept else (OTHER, True, False)
        name = clean_name(raw, self._max_length)
        cleaned = name != raw
        if name not in self._kept:
            self._kept.add(name)
        if len(self._seen) < self._limit * 4:
            self._seen[raw] = (name, cleaned)
        return name, False, cleaned


def as_us(seconds: float) -> int:
    """The whole microseconds a histogram records for `seconds`, clamped to its range."""
    micros = seconds * 1_000_000
    if not micros < HIGHEST_US:  # also inf and NaN, which int() cannot take
        micros = HIGHEST_US
    return max(int(micros), LOWEST_US)


def record_us(histogram: HdrHistogram, seconds: float) -> None:
    histogram.record_value(as_us(seconds))


def _flush(histogram: HdrHistogram, pending: dict[int, int]) -> None:
    """Tallied values into the histogram, once each: as if recorded one by one, to the byte."""
    for micros, count in pending.items():
        histogram.record_value(micros, count)
    pending.clear()


class ErrorCounts(BaseModel):
    """Errors by class; timeouts are counted apart."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    connect: Count = 0
    http_4xx: Count = 0
    http_429: Count = 0
    http_5xx: Count = 0
    invalid_response: Count = 0
    oversized: Count = 0
    other: Count = 0

    @property
    def total(self) -> int:
        return sum(getattr(self, name) for name in ERROR_CLASSES)


class Confusion(BaseModel):
    """Decisions against ground truth: flagged fraud is a true positive."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    tp: Count = 0
    fp: Count = 0
    tn: Count = 0
    fn: Count = 0


class PatternCount(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    seen: Count = 0
    flagged: Count = 0


class Amounts(BaseModel):
    """Money in USD (converted with the generator's reference FX table)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    fraud_total: float = 0.0
    fraud_prevented: float = 0.0
    fraud_missed: float = 0.0
    false_positive: float = 0.0


class AnswerBounds(BaseModel):
    """How often the target's answers hit the worker's bounds (see ResponseMapping)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    decisions_folded: Count = 0
    agents_folded: Count = 0
    names_cleaned: Count = 0


class TokenUsage(BaseModel):
    """Model tokens the target reported in its answers (its `usage`), summed over its agents;
    totals only, so a target naming a thousand agents costs nothing more to carry."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    answers: Count = 0  # answers that reported usage
    modelled_answers: Count = 0  # of which said their figures are modelled (usage.basis)
    input_tokens: Count = 0
    output_tokens: Count = 0


class AgentWindow(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    calls: Count = 0
    errors: Count = 0
    latency: str = ""


class WorkerHealth(BaseModel):
    """The generator's own state, so a saturated generator is not blamed on the target."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    cpu_pct: float | None = None
    rss_mb: float | None = None
    open_fds: int | None = None
    in_flight: int = 0


class MetricsBatch(BaseModel):
    """One worker's one-second window. (worker_id, seq) is the dedupe key."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)

    schema_: Literal["stresslab.metrics/v1"] = Field(default=METRICS_SCHEMA, alias="schema")
    run_id: Annotated[str, Field(min_length=1, max_length=128)]
    worker_id: Annotated[str, Field(min_length=1, max_length=128)]
    wave: Count = 0
    shard: Count = 0
    seq: Count
    window: Annotated[int, Field(ge=0, le=10_000_000)]
    final: bool = False
    scheduled: Count = 0
    sent: Count = 0
    ok: Count = 0
    timeouts: Count = 0
    dropped: Count = 0
    undelivered: Count = 0  # of sent: timeouts and errors that never left the worker
    errors: ErrorCounts = Field(default_factory=ErrorCounts)
    latency: str = ""
    lag: str = ""
    confusion: Confusion = Field(default_factory=Confusion)
    patterns: dict[str, PatternCount] = Field(default_factory=dict)
    decisions: dict[str, Count] = Field(default_factory=dict)
    amounts: Amounts = Field(default_factory=Amounts)
    agents: dict[str, AgentWindow] = Field(default_factory=dict)
    usage: TokenUsage = Field(default_factory=TokenUsage)
    bounded: AnswerBounds = Field(default_factory=AnswerBounds)
    health: WorkerHealth = Field(default_factory=WorkerHealth)

    @property
    def key(self) -> tuple[str, int]:
        return (self.worker_id, self.seq)


@dataclass(frozen=True, slots=True)
class _Frozen:
    latency: str
    lag: str
    agents: dict[str, str]


_EMPTY = HdrHistogram(LOWEST_US, 2, 1)  # placeholder while frozen; never read


class WindowStats:
    """Exact counts and histograms for a window; recorded by a worker, merged by the aggregator."""

    def __init__(
        self, latency: HdrHistogram | None = None, lag: HdrHistogram | None = None
    ) -> None:
        self.scheduled = self.sent = self.ok = self.timeouts = self.dropped = 0
        self.undelivered = 0
        self.errors = dict.fromkeys(ERROR_CLASSES, 0)
        self._latency = latency if latency is not None else new_histogram()
        self._lag = lag if lag is not None else new_histogram(COARSE_DIGITS)
        # a worker records tens of thousands of values a second: tallied in a dict (a few
        # hundred distinct microseconds) and put into the HDR buckets when the window is read
        self._latency_tally: dict[int, int] = {}
        self._lag_tally: dict[int, int] = {}
        self._frozen: _Frozen | None = None
        self.tp = self.fp = self.tn = self.fn = 0
        self.patterns: dict[str, list[int]] = {}
        self.decisions: dict[str, int] = {}
        self.fraud_total = self.fraud_prevented = self.fraud_missed = self.false_positive = 0.0
        self.agent_calls: dict[str, int] = {}
        self.agent_errors: dict[str, int] = {}
        self._agent_latency: dict[str, HdrHistogram] = {}
        self.decisions_folded = self.agents_folded = self.names_cleaned = 0
        self.usage_answers = self.modelled_usage_answers = 0
        self.input_tokens = self.output_tokens = 0
        self.batches = 0

    @property
    def latency(self) -> HdrHistogram:
        if self._frozen:
            return decode_histogram(self._frozen.latency)
        if self._latency_tally:
            _flush(self._latency, self._latency_tally)
        return self._latency

    @latency.setter
    def latency(self, histogram: HdrHistogram) -> None:
        self._thaw()
        self._latency_tally.clear()
        self._latency = histogram

    @property
    def lag(self) -> HdrHistogram:
        if self._frozen:
            return decode_histogram(self._frozen.lag, COARSE_DIGITS)
        if self._lag_tally:
            _flush(self._lag, self._lag_tally)
        return self._lag

    @lag.setter
    def lag(self, histogram: HdrHistogram) -> None:
        self._thaw()
        self._lag_tally.clear()
        self._lag = histogram

    def record_latency(self, seconds: float) -> None:
        """One answer's latency (from its intended send time); as record_us on `latency`."""
        if self._frozen:
            self._thaw()
        tally, micros = self._latency_tally, seconds * 1_000_000  # as_us, one call fewer a request
        micros = int(micros) if LOWEST_US <= micros < HIGHEST_US else as_us(seconds)
        tally[micros] = tally.get(micros, 0) + 1

    def record_lag(self, seconds: float) -> None:
        """One send's schedule lag (0 when early); as record_us on `lag`."""
        if self._frozen:
            self._thaw()
        tally, micros = self._lag_tally, seconds * 1_000_000  # as_us, one call fewer a request
        micros = int(micros) if LOWEST_US <= micros < HIGHEST_US else as_us(max(seconds, 0.0))
        tally[micros] = tally.get(micros, 0) + 1

    @property
    def agent_latency(self) -> dict[str, HdrHistogram]:
        if self._frozen:
            return {a: decode_histogram(e, COARSE_DIGITS) for a, e in self._frozen.agents.items()}
        return self._agent_latency

    def freeze(self) -> None:
        """Keep the histograms encoded (a few hundred bytes instead of ~200 KB) until needed
        again: a run keeps every closed second, and hours of seconds must fit in memory."""
        if self._frozen is None:
            self._frozen = _Frozen(
                encode_histogram(self.latency), encode_histogram(self.lag),
                {a: encode_histogram(h) for a, h in self._agent_latency.items()},
            )
            self._latency = self._lag = _EMPTY
            self._agent_latency = {}

    def _thaw(self) -> None:
        frozen, self._frozen = self._frozen, None
        if frozen is not None:
            self._latency = decode_histogram(frozen.latency)
            self._lag = decode_histogram(frozen.lag, COARSE_DIGITS)
            self._agent_latency = {
                a: decode_histogram(e, COARSE_DIGITS) for a, e in frozen.agents.items()
            }

    @property
    def error_total(self) -> int:
        return sum(self.errors.values())

    def record_decision(
        self, decision: str, flagged: bool, is_fraud: bool, pattern: str, amount_usd: float
    ) -> None:
        self.decisions[decision] = self.decisions.get(decision, 0) + 1
        counts = self.patterns.get(pattern)
        if counts is None:
            counts = self.patterns[pattern] = [0, 0]
        counts[0] += 1
        if flagged:
            counts[1] += 1
        if is_fraud:
            self.fraud_total += amount_usd
            if flagged:
                self.tp += 1
                self.fraud_prevented += amount_usd
            else:
                self.fn += 1
                self.fraud_missed += amount_usd
        elif flagged:
            self.fp += 1
            self.false_positive += amount_usd
        else:
            self.tn += 1

    def record_agent(self, agent: str, seconds: float | None, failed: bool) -> None:
        self._thaw()
        self.agent_calls[agent] = self.agent_calls.get(agent, 0) + 1
        if failed:
            self.agent_errors[agent] = self.agent_errors.get(agent, 0) + 1
        if seconds is not None:
            histogram = self.agent_latency.get(agent)
            if histogram is None:
                histogram = self.agent_latency[agent] = new_histogram(COARSE_DIGITS)
            record_us(histogram, seconds)

    def record_usage(self, input_tokens: int, output_tokens: int, modelled: bool = False) -> None:
        """One answer's reported model tokens, summed over its agents."""
        self.usage_answers += 1
        self.modelled_usage_answers += modelled
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens

    def to_batch(
        self, run_id: str, worker_id: str, wave: int, shard: int, seq: int, window: int,
        final: bool = False, health: WorkerHealth | None = None,
    ) -> MetricsBatch:
        return MetricsBatch(
            run_id=run_id, worker_id=worker_id, wave=wave, shard=shard, seq=seq, window=window,
            final=final, scheduled=self.scheduled, sent=self.sent, ok=self.ok,
            timeouts=self.timeouts, dropped=self.dropped, undelivered=self.undelivered,
            errors=ErrorCounts(**self.errors),
            latency=encode_histogram(self.latency), lag=encode_histogram(self.lag),
            confusion=Confusion(tp=self.tp, fp=self.fp, tn=self.tn, fn=self.fn),
            patterns={k: PatternCount(seen=v[0], flagged=v[1]) for k, v in self.patterns.items()},
            decisions=dict(self.decisions),
            amounts=Amounts(
                fraud_total=self.fraud_total, fraud_prevented=self.fraud_prevented,
                fraud_missed=self.fraud_missed, false_positive=self.false_positive,
            ),
            agents={
                name: AgentWindow(
                    calls=calls,
                    errors=self.agent_errors.get(name, 0),
                    latency=encode_histogram(self.agent_latency[name])
                    if name in self.agent_latency else "",
                )
                for name, calls in self.agent_calls.items()
            },
            usage=TokenUsage(answers=self.usage_answers,
                             modelled_answers=self.modelled_usage_answers,
                             input_tokens=self.input_tokens, output_tokens=self.output_tokens),
            bounded=AnswerBounds(
                decisions_folded=self.decisions_folded, agents_folded=self.agents_folded,
                names_cleaned=self.names_cleaned,
            ),
            health=health or WorkerHealth(),
        )

    @classmethod
    def from_batch(cls, batch: MetricsBatch) -> WindowStats:
        """A batch's window, its histograms decoded once."""
        stats = cls(decode_histogram(batch.latency), decode_histogram(batch.lag, COARSE_DIGITS))
        stats.scheduled, stats.sent, stats.ok = batch.scheduled, batch.sent, batch.ok
        stats.timeouts, stats.dropped = batch.timeouts, batch.dropped
        stats.undelivered = batch.undelivered
        stats.errors = {name: getattr(batch.errors, name) for name in ERROR_CLASSES}
        confusion = batch.confusion
        stats.tp, stats.fp = confusion.tp, confusion.fp
        stats.tn, stats.fn = confusion.tn, confusion.fn
        stats.patterns = {p: [c.seen, c.flagged] for p, c in batch.patterns.items()}
        stats.decisions = dict(batch.decisions)
        amounts = batch.amounts
        stats.fraud_total, stats.fraud_prevented = amounts.fraud_total, amounts.fraud_prevented
        stats.fraud_missed, stats.false_positive = amounts.fraud_missed, amounts.false_positive
        for agent, window in batch.agents.items():
            stats.agent_calls[agent] = window.calls
            stats.agent_errors[agent] = window.errors
            if window.latency:
                stats.agent_latency[agent] = decode_histogram(window.latency)
        usage = batch.usage
        stats.usage_answers, stats.modelled_usage_answers = usage.answers, usage.modelled_answers
        stats.input_tokens, stats.output_tokens = usage.input_tokens, usage.output_tokens
        bounded = batch.bounded
        stats.decisions_folded, stats.agents_folded = (
            bounded.decisions_folded, bounded.agents_folded
        )
        stats.names_cleaned = bounded.names_cleaned
        stats.batches = 1
        if len(stats.decisions) > MAX_NAMES or len(stats.agent_calls) > MAX_NAMES:
            return cls.merged([stats])  # a batch from a worker without bounds: fold it here
        return stats

    def add_batch(self, batch: MetricsBatch) -> None:
        self.add_stats(WindowStats.from_batch(batch))

    def add_stats(self, other: WindowStats) -> None:
        """Merge another window (e.g. the seconds of a phase) without re-encoding."""
        self._thaw()
        for name in ("scheduled", "sent", "ok", "timeouts", "dropped", "undelivered",
                     "tp", "fp", "tn", "fn",
                     "fraud_total", "fraud_prevented", "fraud_missed", "false_positive",
                     "decisions_folded", "agents_folded", "names_cleaned", "batches",
                     "usage_answers", "modelled_usage_answers", "input_tokens",
                     "output_tokens"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ERROR_CLASSES:
            self.errors[name] += other.errors[name]
        for mine, theirs in ((self._latency, other.latency), (self._lag, other.lag)):
            if theirs.get_total_count():
                mine.add(theirs)
        for pattern, (seen, flagged) in other.patterns.items():
            counts = self.patterns.setdefault(pattern, [0, 0])
            counts[0] += seen
            counts[1] += flagged
        for decision, n in other.decisions.items():
            if decision not in self.decisions and len(self.decisions) >= MAX_NAMES:
                self.decisions_folded += n
                decision = OTHER
            self.decisions[decision] = self.decisions.get(decision, 0) + n
        theirs_latency = other.agent_latency
        for agent, calls in other.agent_calls.items():
            name = agent
            if name not in self.agent_calls and len(self.agent_calls) >= MAX_NAMES:
                self.agents_folded += calls
                name = OTHER
            self.agent_calls[name] = self.agent_calls.get(name, 0) + calls
            self.agent_errors[name] = (
                self.agent_errors.get(name, 0) + other.agent_errors.get(agent, 0)
            )
            theirs = theirs_latency.get(agent)
            if theirs is not None:
                histogram = self._agent_latency.get(name)
                if histogram is None:
                    histogram = self._agent_latency[name] = new_histogram(COARSE_DIGITS)
                histogram.add(theirs)

    @classmethod
    def merged(cls, windows: Iterable[WindowStats]) -> WindowStats:
        total = cls()
        for window in windows:
            total.add_stats(window)
        return total
