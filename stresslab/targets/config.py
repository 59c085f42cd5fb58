"""The scenario's `target:` section: which system is under test, how to shape, send and read."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from stresslab.scenario.durations import parse_duration
from stresslab.targets.secrets import SecretError, check_references
from stresslab.targets.template import TemplateError, compile_body, generated_shape

Decision = Literal["approve", "review", "block"]
DOTTED_PATH = r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$"
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# framing and routing headers the sender writes itself; a second copy would break the request
_MANAGED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_STRICT = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

DottedPath = Annotated[str, Field(pattern=DOTTED_PATH, max_length=256)]
Name = Annotated[str, Field(min_length=1, max_length=2048)]


class TargetConfigError(ValueError):
    """A target section that cannot be used. The message is one line naming the field."""


_Text = TypeVar("_Text", str, None)


def _secret_text(value: _Text) -> _Text:
    if value is None:  # an optional field given as null (the spec's JSON round trip)
        return value
    try:
        check_references(value)
    except SecretError as error:
        raise ValueError(str(error)) from None
    return value


SecretText = Annotated[str, Field(min_length=1, max_length=8192)]


class ApiKeyAuth(BaseModel):
    """A fixed header, e.g. X-Api-Key: ${env:FRAUD_API_KEY}."""

    model_config = _STRICT

    type: Literal["api_key"]
    header: Annotated[str, Field(pattern=_HEADER_NAME.pattern, max_length=256)] = "X-Api-Key"
    value: SecretText

    _secret = field_validator("value")(_secret_text)


class BearerAuth(BaseModel):
    """A static bearer token, or one fetched by OAuth2 client credentials and kept fresh."""

    model_config = _STRICT

    type: Literal["bearer"]
    token: SecretText | None = None
    token_url: Annotated[str, Field(pattern=r"^https?://")] | None = None
    client_id: SecretText | None = None
    client_secret: SecretText | None = None
    scope: str | None = None
    client_auth: Literal["basic", "body"] = "basic"

    _secret = field_validator("token", "client_id", "client_secret")(_secret_text)

    @model_validator(mode="after")
    def _static_or_client_credentials(self) -> BearerAuth:
        grant = (self.token_url, self.client_id, self.client_secret)
        if self.token is not None and any(part is not None for part in grant):
            raise ValueError("give either token or token_url + client_id + client_secret, not both")
        if self.token is None and any(part is None for part in grant):
            raise ValueError("needs token, or token_url + client_id + client_secret")
        return self

    @property
    def is_client_credentials(self) -> bool:
        return self.token is None


class SigV4Auth(BaseModel):
    """AWS Signature Version 4 with credentials from the default chain (IAM auth)."""

    model_config = _STRICT

    type: Literal["sigv4"]
    service: Annotated[str, Field(pattern=r"^[a-z0-9-]{1,64}$")]
    region: Annotated[str, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")]


class MtlsAuth(BaseModel):
    """A client certificate presented in the TLS handshake."""

    model_config = _STRICT

    type: Literal["mtls"]
    cert_file: Name
    key_file: Name


Auth = Annotated[
    ApiKeyAuth | BearerAuth | SigV4Auth | MtlsAuth, Field(discriminator="type")
]


def _check_secret_references(body: Any) -> None:
    if isinstance(body, str):
        _secret_text(body)
    elif isinstance(body, dict):
        for item in body.values():
            _check_secret_references(item)
    elif isinstance(body, list):
        for item in body:
            _check_secret_references(item)


class RequestTemplate(BaseModel):
    """The body sent for each transaction; strings may hold {{ path | filter }}."""

    model_config = _STRICT

    body: Any = None

    @field_validator("body")
    @classmethod
    def _compiles(cls, body: Any) -> Any:
        if body is not None:
            try:
                compile_body(body, where="")
            except TemplateError as error:
                at = f" (at {error.place})" if error.place else ""
                raise ValueError(f"{error.problem}{at}") from None
            _check_secret_references(body)
        return body


class ResponseMapping(BaseModel):
    """How an answer becomes a decision: a path (and a map of values), or a score and threshold."""

    model_config = _STRICT

    decision: DottedPath | None = None
    decision_map: dict[str, Decision] | None = None
    score: DottedPath | None = None
    threshold: float | None = None
    review_threshold: float | None = None
    agents: DottedPath | None = None
    usage: DottedPath | None = None  # model tokens: {agent: {input_tokens, output_tokens}}
    success_statuses: list[Annotated[int, Field(ge=100, le=599)]] | None = None

    @field_validator("decision_map", mode="before")
    @classmethod
    def _codes_as_text(cls, value: object) -> object:
        # YAML reads {0: approve} with int keys; answers' values are compared as text
        if isinstance(value, dict):
            return {
                str(key) if isinstance(key, int) and not isinstance(key, bool) else key: item
                for key, item in value.items()
            }
        return value

    @model_validator(mode="after")
    def _one_way_to_decide(self) -> ResponseMapping:
        if self.decision is not None and self.score is not None:
            raise ValueError("give either decision or score, not both")
        if self.score is not None and self.threshold is None:
            raise ValueError("score needs a threshold")
        if self.score is None and (self.threshold is not None or self.review_threshold is not None):
            raise ValueError("threshold needs a score path")
        if self.decision_map is not None and self.score is not None:
            raise ValueError("decision_map applies to decision, not to score")
        if (
            self.review_threshold is not None and self.threshold is not None
            and self.review_threshold > self.threshold
        ):
            raise ValueError("review_threshold must not be above threshold")
        if self.success_statuses is not None and not self.success_statuses:
            raise ValueError("success_statuses must name at least one status")
        return self

    @property
    def decision_path(self) -> str | None:
        """Where the decision is read; the top-level `decision` unless a score decides."""
        if self.score is not None:
            return None
        return self.decision or "decision"


class OutcomeSource(BaseModel):
    """Where decisions come back for asynchronous kinds: a Kinesis stream, SQS queue or table."""

    model_config = _STRICT

    kinesis: Name | None = None
    sqs: Annotated[str, Field(pattern=r"^https?://")] | None = None
    dynamodb: Name | None = None
    key: Annotated[str, Field(min_length=1, max_length=255)] = "transaction_id"
    transaction_id: DottedPath = "transaction_id"

    @model_validator(mode="after")
    def _exactly_one(self) -> OutcomeSource:
        given = [name for name in ("kinesis", "sqs", "dynamodb") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError(
                "name exactly one of kinesis (stream), sqs (queue URL), dynamodb (table)"
            )
        return self


def _timeout(value: object) -> object:
    return None if value is None else parse_duration(value)


class _TargetBase(BaseModel):
    model_config = _STRICT

    name: Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[^\x00-\x1f\x7f]+$")] \
        | None = None  # how pages and reports name the system under test
    timeout: Annotated[float, Field(gt=0, le=900)] | None = None
    request: RequestTemplate = RequestTemplate()
    response: ResponseMapping = ResponseMapping()

    _parse_timeout = field_validator("timeout", mode="before")(_timeout)


class HttpTarget(_TargetBase):
    kind: Literal["http"] = "http"
    url: Annotated[str, Field(max_length=2048)]
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    headers: dict[str, SecretText] = {}
    auth: Auth | None = None
    ca_file: Name | None = None
    verify: bool = True
    # this many 401/403 answers in a row stop the run (each worker lets out at most this many
    # requests until one answer shows the credentials work)
    abort_after_refusals: Annotated[int, Field(ge=1, le=1000)] = 5

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        spaced = any(c.isspace() for c in url)
        if parts.scheme not in ("http", "https") or not parts.hostname or spaced:
            raise ValueError(f"must be an http(s) URL, got {url!r}")
        if "@" in parts.netloc:
            raise ValueError(
                "no credentials in the URL (use auth, headers or ${env:NAME} in the query)"
            )
        return _secret_text(url)

    @field_validator("headers")
    @classmethod
    def _plain_headers(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if not _HEADER_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a header name")
            if name.lower() in _MANAGED_HEADERS:
                raise ValueError(f"{name} is set by stresslab for each request")
            if any(c in value for c in "\r\n\x00"):
                raise ValueError(f"{name}: the value holds a line break")
            try:
                check_references(value)
            except SecretError as error:
                raise ValueError(f"{name}: {error}") from None
        return headers

    @model_validator(mode="after")
    def _tls_options_need_https(self) -> HttpTarget:
        https = self.url.startswith("https://")
        if not https and (isinstance(self.auth, MtlsAuth) or self.ca_file is not None):
            raise ValueError("mtls and ca_file need an https:// url")
        return self


class LambdaTarget(_TargetBase):
    kind: Literal["lambda"]
    function: Annotated[str, Field(pattern=r"^[A-Za-z0-9:_-]{1,170}$")]
    qualifier: Annotated[str, Field(pattern=r"^(\$LATEST|[A-Za-z0-9_-]{1,128})$")] | None = None


class StepFunctionsExpressTarget(_TargetBase):
    kind: Literal["stepfunctions-express"]
    state_machine_arn: Annotated[
        str, Field(pattern=r"^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[A-Za-z0-9_-]+$")
    ]


class KinesisTarget(_TargetBase):
    kind: Literal["kinesis"]
    stream: Name
    partition_key: DottedPath = "transaction_id"
    outcome: OutcomeSource

    @field_validator("partition_key")
    @classmethod
    def _a_transaction_path(cls, path: str) -> str:
        if path not in generated_shape():
            raise ValueError(f"unknown path {path!r} in the transaction")
        return path


class SqsTarget(_TargetBase):
    kind: Literal["sqs"]
    queue_url: Annotated[str, Field(pattern=r"^https?://")]
    outcome: OutcomeSource


TARGET_KINDS: dict[str, type[_TargetBase]] = {
    "http": HttpTarget,
    "lambda": LambdaTarget,
    "stepfunctions-express": StepFunctionsExpressTarget,
    "kinesis": KinesisTarget,
    "sqs": SqsTarget,
}
AUTH_TYPES = ("api_key", "bearer", "sigv4", "mtls")


def _kind_of(value: Any) -> str | None:
    kind = value.get("kind", "http") if isinstance(value, dict) else getattr(value, "kind", None)
    return kind if kind in TARGET_KINDS else None


TargetSpec = Annotated[
    Annotated[HttpTarget, Tag("http")]
    | Annotated[LambdaTarget, Tag("lambda")]
    | Annotated[StepFunctionsExpressTarget, Tag("stepfunctions-express")]
    | Annotated[KinesisTarget, Tag("kinesis")]
    | Annotated[SqsTarget, Tag("sqs")],
    Discriminator(_kind_of),
]
AnyTarget = HttpTarget | LambdaTarget | StepFunctionsExpressTarget | KinesisTarget | SqsTarget
