"""timeseries.csv: one row per second of a run, error classes flattened to err_<class> columns."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

from stresslab.measurement.metrics import ERROR_CLASSES

_CSV_HEAD: tuple[str, ...] = (
    "second", "target_tps", "scheduled", "sent", "ok", "errors", "timeouts", "dropped",
)
_CSV_TAIL: tuple[str, ...] = (
    "p50_ms", "p95_ms", "p99_ms", "max_ms", "lag_p99_ms", "labelled", "accuracy",
    "fraud_prevented_usd", "active_workers", "faults",
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_INTEGERS = frozenset({"second", "scheduled", "sent", "ok", "errors", "timeouts", "dropped",
                       "labelled", "active_workers"})
_NUMBERS = frozenset({"target_tps", "p50_ms", "p95_ms", "p99_ms", "max_ms", "lag_p99_ms",
                      "accuracy", "fraud_prevented_usd"})


def errors_by_class(row: Mapping[str, Any]) -> Mapping[str, Any]:
    """A second's errors by class; none when the row lacks them (a row cut short)."""
    value = row.get("errors_by_class")
    return value if isinstance(value, Mapping) else {}


def error_classes(series: Sequence[Mapping[str, Any]]) -> list[str]:
    """The measured error classes in their fixed order, then any others the rows name."""
    seen = {str(key) for row in series for key in errors_by_class(row)}
    return [*ERROR_CLASSES, *sorted(seen - set(ERROR_CLASSES))]


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        text = value
    elif isinstance(value, Mapping):
        text = json.dumps(value, sort_keys=True)
    elif isinstance(value, Sequence):
        text = ";".join(str(item) for item in value)
    else:
        text = str(value)
    # a spreadsheet would run a cell starting like a formula; names from outside stay text
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


def render_timeseries_csv(series: Sequence[Mapping[str, Any]]) -> str:
    """One row per second; errors_by_class flattened to err_<class>; nested detail left out."""
    classes = error_classes(series)
    known = {*_CSV_HEAD, *_CSV_TAIL, "errors_by_class"}
    extra = sorted(
        {str(key) for row in series for key, value in row.items() if not isinstance(value, dict)}
        - known
    )
    header = [*_CSV_HEAD, *(f"err_{name}" for name in classes), *_CSV_TAIL, *extra]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in series:
        by_class = errors_by_class(row)
        cells = [
            *(row.get(key) for key in _CSV_HEAD),
            *(by_class.get(name) for name in classes),
            *(row.get(key) for key in (*_CSV_TAIL, *extra)),
        ]
        writer.writerow([_csv_cell(cell) for cell in cells])
    return buffer.getvalue()


def read_timeseries_csv(text: str) -> list[dict[str, Any]]:
    """The rows render_timeseries_csv wrote, numbers back as numbers (an empty cell is None),
    err_<class> columns gathered into errors_by_class, any other column kept as text;
    ValueError when a number column holds something else."""
    rows = []
    for cells in csv.DictReader(io.StringIO(text)):
        by_class: dict[str, int] = {}
        row: dict[str, Any] = {"errors_by_class": by_class}
        for key, cell in cells.items():
            if key is None or cell is None:
                raise ValueError("timeseries.csv: a row with more cells than the header")
            if key.startswith("err_"):
                by_class[key.removeprefix("err_")] = int(cell) if cell else 0
            elif cell == "":
                row[key] = None
            elif key in _INTEGERS:
                row[key] = int(cell)
            elif key in _NUMBERS:
                row[key] = float(cell)
            else:
                row[key] = cell
        rows.append(row)
    return rows
