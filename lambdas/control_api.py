"""Control API (HTTP API, Cognito JWT authoriser): start, stop, kill switch, fault, list, show,
export, viewer links."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import (
    BadRequestError,
    ForbiddenError,
    NotFoundError,
    ServiceError,
)
from pydantic import BaseModel, ConfigDict, Field, Json, ValidationError

from lambdas._powertools import powertools
from stresslab.aws.cleanup import cleanup_run
from stresslab.aws.clients import client
from stresslab.aws.cognito_jwt import InvalidToken, groups_claim
from stresslab.aws.env import one_line, read_env
from stresslab.aws.faults import FisFaults, UnknownFault
from stresslab.aws.kill_switch import StopFlags
from stresslab.aws.planning import Ceilings, InvalidRun, parse_run_input, resolve_spec
from stresslab.aws.results import EXPORTS, S3Results
from stresslab.aws.runs import (
    InvalidRunId,
    JustStopped,
    NoSuchRun,
    RunAlreadyEnded,
    StepFunctionsRuns,
    new_run_id,
    resolve_run,
    stop_execution,
)
from stresslab.aws.store import DynamoRunStore, RunNotFound
from stresslab.aws.viewer_links import (
    SecretsManagerKeys,
    ViewerLinkRequest,
    mint_viewer_link,
)
from stresslab.spec import FaultType

logger, tracer, metrics = powertools("control_api")
app = APIGatewayHttpResolver()
OPERATORS = "operators"


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


class FaultRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    type: FaultType
    target: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    run_id: Annotated[str, Field(min_length=1, max_length=80)] | None = None


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
                        max_workers=self.env.MAX_WORKERS)


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


def _operator() -> str:
    authorizer = app.current_event.request_context.authorizer
    claims = (authorizer.jwt_claim if authorizer else None) or {}
    if OPERATORS not in groups_of(claims):
        raise ForbiddenError("operators group required")
    return str(claims.get("username") or claims.get("cognito:username") or claims.get("sub"))


def _body() -> Any:
    try:
        return json.loads(app.current_event.body or "")
    except ValueError:
        raise BadRequestError("body: not valid JSON") from None


def _json(status: int, body: Any) -> Response[str]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON,
                    body=json.dumps(body))


@app.post("/runs")
def start_run() -> Response[str]:
    operator = _operator()
    deps = _deps()
    try:
        run_input = parse_run_input(_body())
        spec, _ = resolve_spec(run_input, deps.ceilings)
    except InvalidRun as invalid:
        raise BadRequestError(str(invalid)) from None
    run_id = new_run_id(spec.name)
    execution_arn = deps.runs.start(run_id, run_input.model_dump(mode="json", exclude_none=True))
    logger.info("run started", extra={"run_id": run_id, "operator": operator})
    return _json(202, {"run_id": run_id, "execution_arn": execution_arn})


@app.post("/runs/<run_id>/stop")
def stop_run(run_id: str) -> Response[str]:
    """Stop a run by id, or `current`: the run that is running."""
    operator = _operator()
    deps = _deps()
    try:
        resolved = resolve_run(run_id, deps.runs, deps.store)
    except InvalidRunId as invalid:
        raise BadRequestError(str(invalid)) from None
    except NoSuchRun as missing:
        raise NotFoundError(str(missing)) from None
    except RunAlreadyEnded as ended:
        raise ServiceError(409, str(ended)) from None
    stopped = stop_execution(resolved, deps.runs, deps.kill_switch, operator)
    cleaned = cleanup_run(resolved, deps.faults, deps.store, JustStopped(), error="RunStopped",
                          cause=f"stopped by {operator}")
    logger.info("run stopped", extra={"run_id": resolved, "operator": operator})
    return _json(200, {"run_id": resolved, "execution_stopped": stopped,
                       "status": cleaned.status,
                       "experiments_stopped": cleaned.experiments_stopped})


@app.post("/kill-switch")
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
    return _json(200, {"kill_switch": "all", "runs_stopped": stopped})


@app.delete("/kill-switch")
def clear_kill_switch() -> Response[str]:
    operator = _operator()
    _deps().kill_switch.clear_all()
    logger.warning("kill switch cleared", extra={"operator": operator})
    return _json(200, {"kill_switch": "off"})


@app.post("/viewer-links")
def share_presentation_link() -> Response[str]:
    """A short-lived, read-only link to the live presentation, for people without an account."""
    operator = _operator()
    deps = _deps()
    body = _body() if app.current_event.body else {}
    try:
        request = ViewerLinkRequest.model_validate(body)
    except ValidationError as invalid:
        raise BadRequestError(one_line(invalid)) from None
    link = mint_viewer_link(deps.env.PRESENTATION_URL, deps.viewer_keys, request.ttl_s,
                            time.time())
    logger.info("viewer link shared", extra={"operator": operator,
                                              "expires_at": link.expires_at})
    return _json(201, link.model_dump())


@app.post("/faults")
def inject_fault() -> Response[str]:
    _operator()
    deps = _deps()
    try:
        request = FaultRequest.model_validate(_body())
        experiment_id = deps.faults.start(request.type, request.run_id, request.target)
    except ValidationError as invalid:
        raise BadRequestError(one_line(invalid)) from None
    except UnknownFault as unknown:
        raise BadRequestError(str(unknown)) from None
    return _json(201, {"experiment_id": experiment_id, "type": request.type})


@app.get("/runs")
def list_runs() -> dict[str, Any]:
    _operator()
    return {"runs": _deps().store.list_runs()}


@app.get("/runs/<run_id>")
def show_run(run_id: str) -> dict[str, Any]:
    _operator()
    try:
        return _deps().store.get_run(run_id)
    except RunNotFound:
        raise NotFoundError(f"run {run_id} not found") from None


@app.get("/runs/<run_id>/export/<name>")
def export(run_id: str, name: str) -> dict[str, Any]:
    _operator()
    deps = _deps()
    if name not in EXPORTS:
        raise BadRequestError(f"file: unknown export {name!r}; one of {', '.join(EXPORTS)}")
    if not deps.results.exists(run_id, name):
        raise NotFoundError(f"run {run_id} has no {name} (yet)")
    return {"url": deps.results.link(run_id, name), "expires_in_s": 300}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
