"""The local runtime of a capacity search: each step a constant-rate LocalRun, one target."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stresslab.judgement.capacity import (
    PlannedStep,
    StepResult,
    capacity_report,
    conclude,
    judge_step,
    next_step,
    observe_step,
    step_spec,
)
from stresslab.local.reference_process import ReferenceService
from stresslab.local.runner import EXIT_ABORTED, LocalRun, LocalRunOptions
from stresslab.outputs.capacity_report import render_capacity_html
from stresslab.runs import iso, new_run_id
from stresslab.scenario.settings import CapacitySearch
from stresslab.scenario.spec import ScenarioSpec
from stresslab.targets.identity import identify_target

EXIT_FOUND, EXIT_NOT_FOUND = 0, 1
PAUSE_BETWEEN_STEPS_S = 1.0  # lets the target finish calls its callers gave up on


@dataclass
class CapacityRunOptions:
    spec: ScenarioSpec
    search: CapacitySearch
    target_url: str | None = None
    reference: ReferenceService | None = None  # a running reference service; started when None
    out_dir: Path | None = None
    db_path: Path = Path(".stresslab/runs.db")
    progress: bool = True
    on_step_start: Callable[[int, PlannedStep, LocalRun], None] | None = None
    on_step: Callable[[int, StepResult], None] | None = None
    pause_s: float = PAUSE_BETWEEN_STEPS_S


@dataclass
class CapacityRunResult:
    search_id: str
    report: dict[str, Any]
    steps: list[StepResult]
    outputs: dict[str, Path] = field(default_factory=dict)
    exit_code: int = EXIT_FOUND


class CapacityRun:
    """Steps a scenario's rate against one target as the pure search directs."""

    def __init__(self, options: CapacityRunOptions) -> None:
        self.options = options
        self.search_id = new_run_id(options.spec.name)
        self.steps: list[StepResult] = []
        self._step_outputs: list[str | None] = []
        self._current: LocalRun | None = None
        self._stop = asyncio.Event()
        self._aborted = False

    def request_stop(self) -> None:
        """Abort: the step under way stops and drains, no further step starts."""
        self._aborted = True
        self._stop.set()
        if self._current is not None:
            self._current.request_stop()

    async def execute(self) -> CapacityRunResult:
        options = self.options
        started = time.time()
        reference = options.reference
        owned = reference is None and options.target_url is None
        target = options.target_url or "local reference service"
        if owned:
            reference = await ReferenceService.start()
        try:
            await self._search(reference)
        finally:
            if owned and reference is not None:
                await reference.stop()
        return self._finish(target, started, time.time())

    async def _search(self, reference: ReferenceService | None) -> None:
        options = self.options
        while not self._aborted:
            planned = next_step(options.search, self.steps)
            if planned is None:
                return
            index = len(self.steps) + 1
            out = self._step_dir(index, planned)
            run = LocalRun(LocalRunOptions(
                spec=step_spec(options.spec, options.search, planned.tps),
                target_url=options.target_url, reference=reference, out_dir=out,
                db_path=options.db_path, progress=options.progress,
            ))
            self._current = run
            if options.on_step_start:
                options.on_step_start(index, planned, run)
            result = await run.execute()
            self._current = None
            if result.exit_code == EXIT_ABORTED or self._aborted:
                return  # a cut-short step says nothing about the target
            step = judge_step(options.search, observe_step(planned, result.run_summary))
            self.steps.append(step)
            self._step_outputs.append(self._relative(out))
            if options.on_step:
                options.on_step(index, step)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), options.pause_s)

    def _step_dir(self, index: int, planned: PlannedStep) -> Path | None:
        if self.options.out_dir is None:
            return None
        return self.options.out_dir / "steps" / f"{index:02d}-{planned.tps:g}tps"

    def _relative(self, path: Path | None) -> str | None:
        if path is None or self.options.out_dir is None:
            return None
        return str(path.relative_to(self.options.out_dir))

    def _finish(self, target: str, started: float, ended: float) -> CapacityRunResult:
        options = self.options
        search = options.search
        criteria = step_spec(options.spec, search, search.start_tps).criteria
        report = capacity_report(
            search, self.steps, search_id=self.search_id, scenario=options.spec.name,
            target=target, criteria=criteria, started_at=iso(started), ended_at=iso(ended),
            status="aborted" if self._aborted else "completed", step_outputs=self._step_outputs,
            system_under_test=identify_target(
                options.target_url or target, section=options.spec.target,
                reference=options.target_url is None and options.spec.target is None,
            ).model_dump(),
        )
        outputs = write_capacity_outputs(options.out_dir, report) if options.out_dir else {}
        if self._aborted:
            code = EXIT_ABORTED
        else:
            code = EXIT_FOUND if conclude(search, self.steps).found else EXIT_NOT_FOUND
        return CapacityRunResult(self.search_id, report, list(self.steps), outputs, code)


def write_capacity_outputs(out_dir: Path, report: dict[str, Any]) -> dict[str, Path]:
    """capacity.json and capacity.html in out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    data = out_dir / "capacity.json"
    data.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    page = out_dir / "capacity.html"
    page.write_text(render_capacity_html(report), encoding="utf-8")
    return {"capacity": data, "report": page}
