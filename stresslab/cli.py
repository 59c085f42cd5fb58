"""`stresslab` command line: run scenarios, list and validate them, serve the reference target."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from stresslab import cli_flags as flags
from stresslab.cli_output import announce_step, print_capacity, print_step, print_summary
from stresslab.scenario.resolve import Overrides, Scales, resolve_scenario
from stresslab.scenario.spec import (
    ScenarioError,
    ScenarioSpec,
    list_scenarios,
    load_scenario,
)

if TYPE_CHECKING:
    from stresslab.local.runner import LocalRun

EXIT_RUN_FAILED = 1
EXIT_BAD_INPUT = 2
DEFAULT_DB = Path(".stresslab/runs.db")
DEFAULT_RESULTS = Path("results")


class BadInput(Exception):
    """A command-line value that cannot be used; the message is one line."""


class RunFailed(Exception):
    """A run (or search) that could not go on; the message is one line, never empty."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"stresslab: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="stresslab", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser("run", help="run a scenario (a name from scenarios/ or a file)")
    run.add_argument("scenario", metavar="SCENARIO_OR_FILE")
    run.add_argument("--target", type=flags.target, default="local",
                     help="'local' starts the reference service; or a URL taking POSTed JSON")
    run.add_argument("--tps", type=flags.positive_float("--tps"),
                     help="constant rate instead of the scenario's shape (needs --duration)")
    run.add_argument("--duration", type=flags.duration, help="with --tps: how long, e.g. 30s, 5m")
    run.add_argument("--time-scale", type=flags.positive_float("--time-scale"), default=1.0,
                     help="multiply every duration (0.05 turns 30 min into 90 s)")
    run.add_argument("--load-scale", type=flags.positive_float("--load-scale"), default=1.0,
                     help="multiply every rate (0.2 turns 10k TPS into 2k)")
    run.add_argument("--workers", type=flags.positive_int("--workers"), help="worker processes")
    run.add_argument("--seed", type=flags.seed, help="transaction seed")
    run.add_argument("--out", type=Path, help="folder for summary.json, report.html, ...")
    run.add_argument("--db", type=Path, default=DEFAULT_DB, help="SQLite run store")
    run.add_argument("--quiet", action="store_true", help="no live progress line")
    run.add_argument("--otlp", type=flags.otlp_endpoint, metavar="URL",
                     help="also send the live metrics to an OpenTelemetry collector over "
                          "OTLP/HTTP, e.g. http://localhost:4318 (pip install 'stresslab[otlp]')")
    run.add_argument("--baseline", type=flags.baseline, metavar="RUN_ID|FOLDER|last-pass",
                     help="judge the scenario's regressions: rules against this run at the end; "
                          "last-pass: the last passing run of this scenario and target")

    probe = commands.add_parser(
        "probe", help="send a few transactions to the target and show what is sent and read")
    probe.add_argument("scenario", metavar="SCENARIO_OR_FILE")
    probe.add_argument("--count", type=flags.positive_int("--count"), default=1,
                       help="how many transactions (default 1)")
    probe.add_argument("--target", type=flags.target, default=None,
                       help="a URL instead of the target section's (default: its url, or the "
                            "bundled reference service)")

    commands.add_parser("scenarios", help="list the bundled scenarios")

    validate = commands.add_parser("validate", help="check a scenario file")
    validate.add_argument("file")

    from reference_service.__main__ import add_serving_arguments

    target = commands.add_parser("target", help="serve the reference fraud-detection service")
    target.add_argument("--host", default="127.0.0.1")
    add_serving_arguments(target)

    runs = commands.add_parser("runs", help="list past runs in the store")
    runs.add_argument("--db", type=Path, default=DEFAULT_DB)

    report = commands.add_parser("report", help="write a past run's outputs again")
    report.add_argument("run_id")
    report.add_argument("--out", type=Path, required=True)
    report.add_argument("--db", type=Path, default=DEFAULT_DB)

    compare = commands.add_parser(
        "compare", help="compare a candidate run with a baseline; exit 1 on a regression")
    compare.add_argument("baseline", help="a run id, a result folder, a summary.json, or "
                                          "s3://bucket/prefix/RUN_ID in the AWS results bucket")
    compare.add_argument("candidate", help="as the baseline")
    compare.add_argument("--out", type=Path, help="folder for compare.json and compare.html")
    compare.add_argument("--db", type=Path, default=DEFAULT_DB, help="SQLite run store")

    demo = commands.add_parser("demo", help="serve the live dashboards and run the investor demo")
    demo.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    demo.add_argument("--port", type=flags.port, default=8080, help="port, 0 for any free one")
    demo.add_argument("--scenario", default="investor-demo", help="the first run's scenario")
    demo.add_argument("--time-scale", type=flags.positive_float("--time-scale"), default=0.3)
    demo.add_argument("--load-scale", type=flags.positive_float("--load-scale"), default=0.2)
    demo.add_argument("--no-autostart", action="store_true",
                      help="start nothing; wait for the admin page")
    demo.add_argument("--db", type=Path, default=DEFAULT_DB)
    demo.add_argument("--allow-remote", action="store_true",
                      help="let --host be a non-loopback address (exposes the dashboards)")
    demo.add_argument("--allow-secret", action="append", default=[], metavar="NAME",
                      type=flags.variable_name,
                      help="an environment variable runs started over the API may read as "
                           "${env:NAME} (repeatable; STRESSLAB_TARGET_* always may)")
    demo.add_argument("--otlp", type=flags.otlp_endpoint, metavar="URL",
                      help="also send each run's live metrics to an OpenTelemetry collector "
                           "over OTLP/HTTP (pip install 'stresslab[otlp]')")
    return parser


def resolve_spec(args: argparse.Namespace) -> ScenarioSpec:
    """The scenario with command-line overrides applied and validated."""
    return resolve_scenario(
        args.scenario,
        Overrides(tps=args.tps, duration=args.duration, workers=args.workers, seed=args.seed),
        Scales(time=args.time_scale, load=args.load_scale),
    )


def command_run(args: argparse.Namespace) -> int:
    from stresslab.local.runner import LocalRun, LocalRunOptions

    target_url = None if args.target == "local" else args.target
    spec = checked_target(resolve_spec(args), target_url)
    if spec.capacity_search is not None:
        if args.tps is None:
            if args.otlp is not None:
                raise BadInput("--otlp exports single runs, not a capacity search: run a step "
                               "with --tps and --duration")
            if args.baseline is not None:
                raise BadInput("--baseline judges a run, not a capacity search; give --tps too")
            return command_capacity(args, spec)
        spec = judged_like_the_search(spec, args.time_scale)
    exporter = otlp_exporter(args.otlp, spec.name)
    run = LocalRun(LocalRunOptions(
        spec=spec, target_url=target_url, out_dir=None, db_path=args.db,
        progress=not args.quiet, broadcaster=exporter,
    ))
    run.options.out_dir = args.out or DEFAULT_RESULTS / run.run_id
    if args.baseline is not None:
        run.options.baseline = baseline_for(run, args.baseline, args.db)
        print(f"stresslab: {run.options.baseline.note}", file=sys.stderr)
    print(f"stresslab: run {run.run_id}: {spec.name}, {spec.duration:g}s, "
          f"peak {spec.profile().peak():,.0f} TPS, {run.plan.scheduled_total:,} transactions, "
          f"{run.plan.shards} workers, target {run.options.target_url or args.target}",
          file=sys.stderr)

    try:
        result = run_to_the_end(run)
    finally:
        if exporter is not None:
            exporter.close()  # the final export made before the process ends
    print_summary(result.run_summary, result.outputs)
    if run.refused is not None:
        print(f"stresslab: {run.refused}", file=sys.stderr)
    return result.exit_code


def otlp_exporter(endpoint: str | None, scenario: str | None) -> Any:
    from stresslab.local.otlp_option import OtlpUnavailable, open_exporter

    try:
        return open_exporter(endpoint, scenario)
    except OtlpUnavailable as error:
        raise BadInput(str(error)) from None


def baseline_for(run: LocalRun, asked: str, db_path: Path) -> Any:
    """--baseline resolved before the run starts: bad input when it names no usable run."""
    from stresslab.outputs.baselines import baseline_of_run

    try:
        return baseline_of_run(run.spec, run.options.target_url, asked, db_path, DEFAULT_RESULTS)
    except ValueError as error:
        raise BadInput(str(error)) from None


def checked_target(spec: ScenarioSpec, url: str | None) -> ScenarioSpec:
    """--target applied to the scenario's `target:` section, whose secrets, files and
    credentials are checked before anything starts (bad input naming what is wrong)."""
    from stresslab.targets.factory import TARGET_SETUP_ERRORS, check_target, with_target_url

    try:
        spec = with_target_url(spec, url)
        check_target(spec, os.environ)
    except TARGET_SETUP_ERRORS as error:
        raise BadInput(str(error)) from None
    return spec


class _Stoppable(Protocol):
    def request_stop(self) -> None: ...

    async def execute(self) -> Any: ...


def run_to_the_end(run: _Stoppable) -> Any:
    """Execute a run; Ctrl-C or SIGTERM stops it cleanly; an unreachable target is bad input;
    any other failure is RunFailed, one line (the run's outputs are written when it started)."""
    from stresslab.local.runner import failure_reason
    from stresslab.targets.http import TargetUnreachable

    async def main() -> Any:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, run.request_stop)
        loop.add_signal_handler(signal.SIGTERM, run.request_stop)
        return await run.execute()

    try:
        return asyncio.run(main())
    except TargetUnreachable as error:
        raise BadInput(str(error)) from None
    except Exception as error:  # noqa: BLE001 - one line for the user, never a traceback
        name = getattr(run, "run_id", None) or getattr(run, "search_id", "")
        raise RunFailed(f"run {name} failed: {failure_reason(error)}") from None


def judged_like_the_search(spec: ScenarioSpec, time_scale: float) -> ScenarioSpec:
    """A constant-rate run of a capacity scenario is judged as each of its steps is."""
    search = spec.capacity_search
    if search is None or not search.criteria:
        return spec
    return spec.model_copy(update={"criteria": [c.scaled(time_scale) for c in search.criteria]})


def command_capacity(args: argparse.Namespace, spec: ScenarioSpec) -> int:
    from stresslab.local.capacity_runner import CapacityRun, CapacityRunOptions

    assert spec.capacity_search is not None
    search = spec.capacity_search.scaled(args.time_scale, args.load_scale)
    run = CapacityRun(CapacityRunOptions(
        spec=spec, search=search, target_url=None if args.target == "local" else args.target,
        db_path=args.db, progress=not args.quiet, on_step_start=announce_step,
        on_step=print_step,
    ))
    run.options.out_dir = args.out or DEFAULT_RESULTS / run.search_id
    longest = search.max_steps * search.step_duration
    print(f"stresslab: capacity search {run.search_id}: {spec.name}, {search.start_tps:,.0f} to "
          f"{search.max_tps:,.0f} TPS in steps of {search.step_tps:,.0f}, "
          f"{search.step_duration:g}s each, {search.refine_steps} refinement rounds "
          f"(at most {search.max_steps} steps, {longest / 60:.1f} min of load), "
          f"{spec.workers} workers, target {args.target}", file=sys.stderr)

    result = run_to_the_end(run)
    print_capacity(result.report, result.outputs, confirm_command(args, result.report))
    return result.exit_code


def confirm_command(args: argparse.Namespace, report: dict[str, Any]) -> str | None:
    """The constant-rate run that checks the capacity found, with this search's flags."""
    capacity = report.get("capacity_tps")
    if capacity is None:
        return None
    search = report["search"]
    words = ["stresslab", "run", args.scenario,
             "--tps", f"{capacity / args.load_scale:g}",
             "--duration", f"{search['step_duration'] / args.time_scale:g}s"]
    for flag, value, default in (("--target", args.target, "local"),
                                 ("--time-scale", args.time_scale, 1.0),
                                 ("--load-scale", args.load_scale, 1.0),
                                 ("--workers", args.workers, None), ("--seed", args.seed, None)):
        if value != default:
            words += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    return " ".join(words)


def command_probe(args: argparse.Namespace) -> int:
    from stresslab.probe import ProbeInputError, run_probe

    target = None if args.target in (None, "local") else args.target
    try:
        return run_probe(args.scenario, args.count, target, print)
    except ProbeInputError as error:
        raise BadInput(str(error)) from None


def command_scenarios(_: argparse.Namespace) -> int:
    for name in list_scenarios():
        spec = load_scenario(name)
        search = spec.capacity_search
        if search is not None:
            print(f"{name:18} {'search':>8}  up to {search.max_tps:>6,.0f} TPS  "
                  f"{spec.description}")
            continue
        print(f"{name:18} {spec.duration:>7g}s  peak {spec.profile().peak():>8,.0f} TPS  "
              f"{spec.description}")
    return 0


def command_validate(args: argparse.Namespace) -> int:
    spec = load_scenario(args.file)
    search = spec.capacity_search
    searched = "" if search is None else (
        f", capacity search {search.start_tps:g}-{search.max_tps:g} TPS in steps of "
        f"{search.step_tps:g}, at most {search.max_steps} steps of {search.step_duration:g}s")
    print(f"{args.file}: ok ({spec.name}, {spec.duration:g}s, {len(spec.phases)} phases, "
          f"{len(spec.criteria)} criteria, {len(spec.faults)} faults{searched})")
    return 0


def command_target(args: argparse.Namespace) -> int:
    from reference_service.__main__ import serve_from_arguments

    serve_from_arguments(build_parser(), args, None)
    return 0


def command_runs(args: argparse.Namespace) -> int:
    from stresslab.local.store import SqliteRunStore

    store = SqliteRunStore(args.db)
    for run in store.list_runs():
        verdict = {True: "passed", False: "failed", None: "-"}[run["passed"]]
        print(f"{run['run_id']:44} {run['status']:10} {verdict:7} {run['started_at']}")
    return 0


def command_report(args: argparse.Namespace) -> int:
    from stresslab.local.store import RunNotFound, SqliteRunStore
    from stresslab.outputs.report import write_outputs

    store = SqliteRunStore(args.db)
    try:
        record = store.get_run(args.run_id)
    except RunNotFound:
        raise BadInput(f"no run {args.run_id!r} in {args.db}") from None
    if record["summary"] is None:
        raise BadInput(f"run {args.run_id!r} has no summary yet (status {record['status']})")
    outputs = write_outputs(args.out, record["summary"], store.series(args.run_id))
    print(json.dumps({name: str(path) for name, path in outputs.items()}, indent=2))
    return 0


def command_demo(args: argparse.Namespace) -> int:
    from stresslab.local.demo import DemoFailed, DemoOptions, run_demo

    options = DemoOptions(
        host=args.host, port=args.port, scenario=args.scenario, time_scale=args.time_scale,
        load_scale=args.load_scale, autostart=not args.no_autostart, db_path=args.db,
        results_dir=DEFAULT_RESULTS, allow_remote=args.allow_remote,
        allowed_secrets=tuple(args.allow_secret), otlp_endpoint=args.otlp,
    )
    otlp_exporter(args.otlp, None)  # the SDK is there, before the server starts
    try:
        return asyncio.run(run_demo(options))
    except DemoFailed as error:
        raise BadInput(str(error)) from None


def command_compare(args: argparse.Namespace) -> int:
    from stresslab.outputs.compare import compare_command

    fetch: Any = None  # boto3 loads only for a side in the AWS results bucket
    if any(side.startswith("s3://") for side in (args.baseline, args.candidate)):
        from stresslab.aws.summaries import fetch_summary as fetch
    try:
        code, text = compare_command(args.baseline, args.candidate, args.out, args.db, fetch)
    except ValueError as error:
        raise BadInput(str(error)) from None
    print(text)
    return code


COMMANDS = {
    "run": command_run,
    "probe": command_probe,
    "scenarios": command_scenarios,
    "validate": command_validate,
    "target": command_target,
    "runs": command_runs,
    "report": command_report,
    "demo": command_demo,
    "compare": command_compare,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except BrokenPipeError:
        # the reader left (`stresslab scenarios | head`): nothing more to say, and no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ScenarioError, BadInput) as error:
        print(f"stresslab: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except RunFailed as failed:
        print(f"stresslab: {failed}", file=sys.stderr)
        return EXIT_RUN_FAILED


if __name__ == "__main__":
    sys.exit(main())
