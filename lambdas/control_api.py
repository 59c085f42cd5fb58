"""Control API (HTTP API, Cognito JWT authoriser): start, stop, kill switch, fault, list, show,
export, viewer links; bodies and answers are the control contract's (stresslab.control), the
same the local server speaks."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, TypeVar

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import (
    BadRequestError,
    ForbiddenError,
    NotFoundError,
    ServiceError,
)
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from pydantic import BaseModel, ConfigDict, Field, Json

from lambdas._powertools import powertools
from stresslab.aws.cleanup import cleanup_run
from stresslab.aws.clients import client
from stresslab.aws.cognito_jwt import InvalidToken, groups_claim
from stresslab.aws.env import read_env
from stresslab.aws.faults import FisFaults, UnknownFault
from stresslab.aws.kill_switch import StopFlags
from stresslab.aws.planning import (
    TARGET_SECRET_PREFIX,
    Ceilings,
    InvalidRun,
    RunInput,
    parse_run_input,
    resolve_spec,
)
from stresslab.aws.results import S3Results
from stresslab.aws.runs import (
    InvalidRunId,
    JustStopped,
    NoSuchRun,
    RunAlreadyEnded,
    StepFunctionsRuns,
    resolve_run,
    stop_execution,
)
from stresslab.aws.store import DynamoRunStore, RunNotFound
from stresslab.aws.viewer_links import SecretsManagerKeys, mint_viewer_link
from stresslab.baseline_series import NotFinished, baseline_list, is_finished, run_series
from stresslab.control import (
    ContractError,
    ErrorBody,
    ExportLink,
    FaultInjected,
    InjectFault,
    KillSwitch,
    Limits,
    RunList,
    RunStarted,
    RunStopping,
    StartRun,
    ViewerLinkRequest,
    benchmark_list,
    fault_type_list,
    parse_request,
    profile_list,
    scenario_list,
)
from stresslab.outputs.timeseries_csv import read_timeseries_csv
from stresslab.runs import OPERATORS_GROUP, UnknownExport, known_export, new_run_id
from stresslab.scenario.presentation import (
    BENCHMARKS_FILE,
    PLACEHOLDERS,
    PRESENTATION_DIR,
    PresentationError,
    load_benchmarks,
    load_profile,
)
from stresslab.scenario.spec import SCENARIOS_DIR

logger, tracer, metrics = powertools("control_api")
# Bodies are parsed by the contract's parse_request (the local server's too), not by
# enable_validation: Powertools validates a request before any route middleware runs, so a
# caller outside the operators group would hear about the body (422) before the 403.
app = APIGatewayHttpResolver()
M = TypeVar("M", bound=BaseModel)


class ControlEnv(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    TABLE_NAME: Annotated[str, Field(min_length=1)]
    STATE_MACHINE_ARN: Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:states:")]
    RESULTS_BUCKET: Annotated[str, Field(min_length=3)]
    VIEWER_LINK_SECRET_ARN: Annotated[str, Field(min_length=1)]
    PRESENTATION_URL: Annotated[str, Field(pattern=r"^https?://")]
    MAX_TPS: Annotated[float, Field(gt=0)]
    MAX_DURATION_S: Annotated[float, Field(gt=0)]
    MAX_WORKERS: Annotated[int, Field(ge=1)] = 1000
    FAULT_TEMPLATES: Json[dict[str, str]] = Field(default_factory=dict)
    STACK_NAME: str = ""
    # Where a run goes when the operator names no target (e.g. the reference target's URL).
    DEFAULT_TARGET_URL: Annotated[str, Field(pattern=r"^https?://")] | None = None
    # the Secrets Manager names a run's target section may read (docs/security.md)
    TARGET_SECRET_PREFIX: Annotated[str, Field(min_length=1)] = TARGET_SECRET_PREFIX


@dataclass(frozen=True)
class ControlDeps:
    env: ControlEnv
    store: DynamoRunStore
    runs: StepFunctionsRuns
    faults: FisFaults
    kill_switch: StopFlags
    results: S3Results
    viewer_keys: SecretsManagerKeys

    @property
    def ceilings(self) -> Ceilings:
        return Ceilings(max_tps=self.env.MAX_TPS, max_duration_s=self.env.MAX_DURATION_S,
                        max_workers=self.env.MAX_WORKERS,
                        target_secret_prefix=self.env.TARGET_SECRET_PREFIX)


@cache
def _deps() -> ControlDeps:
    env = read_env(ControlEnv)
    dynamodb = client("dynamodb")
    return ControlDeps(
        env=env, store=DynamoRunStore(dynamodb, env.TABLE_NAME),
        runs=StepFunctionsRuns(client("stepfunctions"), env.STATE_MACHINE_ARN),
        faults=FisFaults(client("fis"), env.FAULT_TEMPLATES, stack=env.STACK_NAME),
        kill_switch=StopFlags(dynamodb, env.TABLE_NAME),
        results=S3Results(client("s3"), env.RESULTS_BUCKET),
        viewer_keys=SecretsManagerKeys(client("secretsmanager"), env.VIEWER_LINK_SECRET_ARN),
    )


def groups_of(claims: dict[str, Any]) -> set[str]:
    """The caller's groups, from the claim as the HTTP API authoriser passes it ("[a b]")."""
    try:
        return set(groups_claim(claims.get("cognito:groups")))
    except InvalidToken:
        return set()


def operators_only(
    resolver: APIGatewayHttpResolver, next_middleware: NextMiddleware,
) -> Response[Any]:
    """Route middleware: 403 unless the JWT authoriser's claims put the caller in the operators
    group; the operator's name is then in the resolver's context for the route."""
    authorizer = resolver.current_event.request_context.authorizer
    claims = (authorizer.jwt_claim if authorizer else None) or {}
    if OPERATORS_GROUP not in groups_of(claims):
        raise ForbiddenError("operators group required")
    operator = claims.get("username") or claims.get("cognito:username") or claims.get("sub")
    resolver.append_context(operator=str(operator))
    return next_middleware(resolver)


OPERATORS_ONLY: list[Callable[..., Response[Any]]] = [operators_only]


def _operator() -> str:
    return str(app.context["operator"])


def _request(model: type[M], allow_empty: bool = False) -> M:
    try:
        return parse_request(model, app.current_event.body, allow_empty)
    except ContractError as invalid:
        raise BadRequestError(str(invalid)) from None


def _json(status: int, body: Any) -> Response[str]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON,
                    body=json.dumps(body))


def _answer(status: int, answer: BaseModel) -> Response[str]:
    return _json(status, answer.model_dump(mode="json", exclude_none=True))


@app.exception_handler(ServiceError)
def _refusal(error: ServiceError) -> Response[str]:
    """Refusals carry the contract's error body, as the local server's do."""
    return _json(error.status_code, ErrorBody(error=error.msg).model_dump())


def run_input_of(start: StartRun, default_target: str | None) -> RunInput:
    """The state machine's input for a start request: the scenario checked as the local server
    checks it (a constant rate folded into it), the target given or the stack's default."""
    if start.baseline is not None:
        raise InvalidRun("baseline: the AWS runtime does not judge regression rules at a run's "
                         "end; compare its summary with `stresslab compare s3://BUCKET/runs/ID`")
    spec = start.spec(SCENARIOS_DIR)
    scenario: str | dict[str, Any] = start.scenario
    if start.tps is not None:
        scenario = spec.model_dump(mode="json", exclude_defaults=True)
    target_url = start.target_url or (None if start.target_stream else default_target)
    if target_url is None and start.target_stream is None:
        raise InvalidRun("target_url: give the URL to load (or target_stream); this stack "
                         "has no default target")
    return parse_run_input({
        "scenario": scenario, "time_scale": start.time_scale, "load_scale": start.load_scale,
        **({"target_url": target_url} if target_url else {}),
        **({"target_stream": start.target_stream} if start.target_stream else {}),
    })


@app.post("/runs", middlewares=OPERATORS_ONLY)
def start_run() -> Response[str]:
    operator = _operator()
    deps = _deps()
    start = _request(StartRun)
    try:
        run_input = run_input_of(start, deps.env.DEFAULT_TARGET_URL)
        spec, _ = resolve_spec(run_input, deps.ceilings)
    except (InvalidRun, ContractError) as invalid:
        raise BadRequestError(str(invalid)) from None
    run_id = new_run_id(spec.name)
    execution_arn = deps.runs.start(run_id, run_input.model_dump(mode="json", exclude_none=True))
    logger.info("run started", extra={"run_id": run_id, "operator": operator})
    return _answer(202, RunStarted(run_id=run_id, scenario=spec.name, duration_s=spec.duration,
                                   peak_tps=spec.profile().peak(), execution_arn=execution_arn))


@app.post("/runs/<run_id>/stop", middlewares=OPERATORS_ONLY)
def stop_run(run_id: str) -> Response[str]:
    """Stop a run by id, or `current`: the run that is running."""
    operator = _operator()
    deps = _deps()
    try:
        resolved = resolve_run(run_id, deps.runs, deps.store)
    except InvalidRunId as invalid:
        raise BadRequestError(str(invalid)) from None
    except NoSuchRun as missing:
        if run_id == "current":  # as the local server: nothing to stop is a conflict
            raise ServiceError(409, "no run in progress") from None
        raise NotFoundError(str(missing)) from None
    except RunAlreadyEnded as ended:
        raise ServiceError(409, str(ended)) from None
    stopped = stop_execution(resolved, deps.runs, deps.kill_switch, operator)
    cleaned = cleanup_run(resolved, deps.faults, deps.store, JustStopped(), error="RunStopped",
                          cause=f"stopped by {operator}")
    logger.info("run stopped", extra={"run_id": resolved, "operator": operator})
    return _answer(200, RunStopping(run_id=resolved, execution_stopped=stopped,
                                    status=cleaned.status,
                                    experiments_stopped=cleaned.experiments_stopped))


@app.post("/kill-switch", middlewares=OPERATORS_ONLY)
def stop_every_run() -> Response[str]:
    """Trip the `all` flag (every run, and any started until it is cleared) and stop the runs
    that are running."""
    operator = _operator()
    deps = _deps()
    deps.kill_switch.trip_all(by=operator)
    stopped = []
    for run_id in deps.runs.running():
        stop_execution(run_id, deps.runs, deps.kill_switch, operator)
        cleanup_run(run_id, deps.faults, deps.store, JustStopped(), error="RunStopped",
                    cause=f"kill switch by {operator}")
        stopped.append(run_id)
    logger.warning("kill switch tripped", extra={"operator": operator, "stopped": stopped})
    return _answer(200, KillSwitch(kill_switch="all", runs_stopped=stopped))


@app.delete("/kill-switch", middlewares=OPERATORS_ONLY)
def clear_kill_switch() -> Response[str]:
    operator = _operator()
    _deps().kill_switch.clear_all()
    logger.warning("kill switch cleared", extra={"operator": operator})
    return _answer(200, KillSwitch(kill_switch="off"))


@app.post("/viewer-links", middlewares=OPERATORS_ONLY)
def share_presentation_link() -> Response[str]:
    """A short-lived, read-only link to the live presentation, for people without an account."""
    operator = _operator()
    deps = _deps()
    request = _request(ViewerLinkRequest, allow_empty=True)
    link = mint_viewer_link(deps.env.PRESENTATION_URL, deps.viewer_keys, request.ttl_s,
                            time.time())
    logger.info("viewer link shared", extra={"operator": operator,
                                              "expires_at": link.expires_at})
    return _answer(201, link)


@app.post("/faults", middlewares=OPERATORS_ONLY)
def inject_fault() -> Response[str]:
    """Now, on the run named or the run that is running; the FIS template of the type (and
    target) fixes its intensity and duration."""
    deps = _deps()
    request = _request(InjectFault)
    try:
        run_id = resolve_run(request.run_id or "current", deps.runs, deps.store)
        experiment_id = deps.faults.start(request.type, run_id, request.target)
    except InvalidRunId as invalid:
        raise BadRequestError(str(invalid)) from None
    except (NoSuchRun, RunAlreadyEnded) as no_run:
        raise ServiceError(409, "no run in progress" if request.run_id is None
                           else str(no_run)) from None
    except UnknownFault as unknown:
        raise BadRequestError(str(unknown)) from None
    return _answer(201, FaultInjected(type=request.type, target=request.target,
                                      status="injected", label=request.label or None,
                                      experiment_id=experiment_id))


@app.get("/runs", middlewares=OPERATORS_ONLY)
def list_runs() -> dict[str, Any]:
    runs = _deps().store.list_runs()
    current = next((r["run_id"] for r in runs if r.get("status") == "running"), None)
    return RunList(current=current, runs=runs).model_dump(mode="json")


@app.get("/scenarios", middlewares=OPERATORS_ONLY)
def list_scenarios() -> dict[str, Any]:
    env = _deps().env
    limits = Limits(max_tps=env.MAX_TPS, max_duration_s=env.MAX_DURATION_S)
    return scenario_list(SCENARIOS_DIR, limits).model_dump(mode="json")


@app.get("/fault-types", middlewares=OPERATORS_ONLY)
def list_fault_types() -> dict[str, Any]:
    return fault_type_list().model_dump(mode="json")


# Presentation profiles and benchmarks are what investors see on the presentation page: public
# routes (no authoriser), as on the local server.
@app.get("/profiles")
def list_presentation_profiles() -> dict[str, Any]:
    return profile_list(PRESENTATION_DIR).model_dump(mode="json")


@app.get("/profiles/<name>")
def show_presentation_profile(name: str) -> dict[str, Any]:
    try:
        profile = load_profile(name, PRESENTATION_DIR, load_benchmarks(BENCHMARKS_FILE))
    except LookupError as error:
        raise NotFoundError(f"name: {error}") from None
    except PresentationError as error:
        raise ServiceError(500, str(error)) from None
    return {**profile.model_dump(mode="json"), "placeholders": PLACEHOLDERS}


@app.get("/benchmarks")
def list_benchmarks() -> dict[str, Any]:
    try:
        return benchmark_list(BENCHMARKS_FILE).model_dump(mode="json")
    except PresentationError as error:
        raise ServiceError(500, str(error)) from None


@app.get("/runs/<run_id>", middlewares=OPERATORS_ONLY)
def show_run(run_id: str) -> dict[str, Any]:
    try:
        return _deps().store.get_run(run_id)
    except RunNotFound:
        raise NotFoundError(f"run {run_id} not found") from None


@app.get("/baselines", middlewares=OPERATORS_ONLY)
def list_baselines() -> dict[str, Any]:
    """Finished runs the analytics page may overlay; ?scenario= names the live run's."""
    scenario = app.current_event.get_query_string_value("scenario")
    return baseline_list(_deps().store.list_runs(), scenario).model_dump(mode="json")


@app.get("/runs/<run_id>/series", middlewares=OPERATORS_ONLY)
def show_series(run_id: str) -> dict[str, Any]:
    """A finished run's series from its timeseries.csv in the results bucket (one GetObject):
    the rows Evaluate wrote, the same the local store keeps."""
    deps = _deps()
    try:
        record = deps.store.get_run(run_id)
        text = deps.results.read_text(run_id, "timeseries.csv") if is_finished(record) else ""
        series = run_series(record, read_timeseries_csv(text or ""))
    except RunNotFound:
        raise NotFoundError(f"run_id: no run {run_id!r}") from None
    except NotFinished as error:
        raise ServiceError(409, str(error)) from None
    if text is None:
        raise NotFoundError(f"run {run_id} has no timeseries.csv ({record.get('status')})")
    return series.model_dump(mode="json")


@app.get("/runs/<run_id>/export/<name>", middlewares=OPERATORS_ONLY)
def export(run_id: str, name: str) -> dict[str, Any]:
    deps = _deps()
    try:
        known_export(name)
    except UnknownExport as unknown:
        raise BadRequestError(str(unknown)) from None
    if not deps.results.exists(run_id, name):
        raise NotFoundError(f"run {run_id} has no {name} (yet)")
    return ExportLink(url=deps.results.link(run_id, name), expires_in_s=300).model_dump()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
