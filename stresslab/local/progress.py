"""A live progress line in the terminal: elapsed, target vs achieved TPS, p95, errors."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from stresslab.scenario.durations import format_duration


def progress_line(row: dict[str, Any], elapsed: float, duration: float, faults: list[str]) -> str:
    p95 = row.get("p95_ms")
    fault_text = f" | faults: {', '.join(faults)}" if faults else ""
    return (
        f"[{format_duration(elapsed)}/{format_duration(duration)}] "
        f"target {row.get('target_tps', 0):,.0f} tps | achieved {row.get('sent', 0):,} tps | "
        f"p95 {'-' if p95 is None else f'{p95:,.1f} ms'} | "
        f"errors {row.get('errors', 0) + row.get('timeouts', 0):,} | "
        f"dropped {row.get('dropped', 0):,}{fault_text}"
    )


class ProgressDisplay:
    """Redraws one line on a terminal; prints every `every` seconds when not a terminal."""

    def __init__(self, stream: TextIO | None = None, every: int = 5, enabled: bool = True) -> None:
        self._stream = stream or sys.stderr
        self._tty = self._stream.isatty()
        self._every = every
        self._enabled = enabled
        self._last_width = 0

    def show(self, second: int, line: str) -> None:
        if not self._enabled:
            return
        if self._tty:
            padding = " " * max(0, self._last_width - len(line))
            self._stream.write("\r" + line + padding)
            self._last_width = len(line)
        elif second % self._every == 0:
            self._stream.write(line + "\n")
        self._stream.flush()

    def done(self) -> None:
        if self._enabled and self._tty:
            self._stream.write("\n")
            self._stream.flush()
