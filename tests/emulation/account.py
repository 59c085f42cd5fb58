"""The emulated account: every resource of the synthesized template created in moto from the
template's own properties (or, where moto has no such service, recorded for the gateway)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import secrets
import string
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .template import (
    ACCOUNT,
    REGION,
    Names,
    Resource,
    SynthesizedStack,
    TemplateError,
    Unresolved,
    resolve,
)

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def _short_id(logical_id: str, length: int = 10) -> str:
    digest = hashlib.sha256(logical_id.encode()).hexdigest()
    return "".join(string.ascii_lowercase[int(c, 16)] if c.isdigit() else c
                   for c in digest)[:length]


@dataclass(frozen=True)
class Function:
    """A Lambda function as the template declares it, with its environment resolved."""

    logical_id: str
    name: str
    arn: str
    handler: str
    environment: dict[str, str]
    timeout_s: int
    memory_mb: int


@dataclass(frozen=True)
class HttpRoute:
    logical_id: str
    method: str
    path: str  # "/{proxy+}" or a literal path
    function: str  # logical id
    authorizer: str | None  # logical id of a JWT authoriser


@dataclass(frozen=True)
class JwtAuthorizer:
    issuer: str
    audience: tuple[str, ...]
    identity_source: str


@dataclass(frozen=True)
class StreamMapping:
    """A Kinesis event source mapping: what Lambda's poller would do for the function."""

    function: str
    stream_arn: str
    batch_size: int
    bisect_on_error: bool
    report_item_failures: bool
    max_retries: int
    on_failure_arn: str | None
    starting_position: str


@dataclass
class Account:
    """What the emulation built, by logical id, and what the gateway and pollers need."""

    stack: SynthesizedStack
    names: Names
    functions: dict[str, Function] = field(default_factory=dict)
    http_routes: list[HttpRoute] = field(default_factory=list)
    websocket_routes: dict[str, str] = field(default_factory=dict)  # route key -> function
    websocket_stage: str = ""
    authorizers: dict[str, JwtAuthorizer] = field(default_factory=dict)
    stream_mappings: list[StreamMapping] = field(default_factory=list)
    fault_templates: dict[str, str] = field(default_factory=dict)  # FIS template id -> logical
    site_bucket: str = ""
    created: dict[str, str] = field(default_factory=dict)  # logical id -> type
    recorded: dict[str, str] = field(default_factory=dict)  # not created in moto: logical -> type

    def function_by_name(self, name: str) -> Function:
        for function in self.functions.values():
            if function.name == name or function.arn == name:
                return function
        raise KeyError(name)

    def ref(self, logical_id: str) -> str:
        return self.names.ref(logical_id)

    def first(self, kind: str) -> str:
        """The logical id of the only (first) resource of a type."""
        for logical_id, resource in self.stack.resources.items():
            if resource.type == kind:
                return logical_id
        raise TemplateError(f"the template has no {kind}")

    @property
    def user_pool_id(self) -> str:
        return self.ref(self.first("AWS::Cognito::UserPool"))

    @property
    def user_pool_client_id(self) -> str:
        return self.ref(self.first("AWS::Cognito::UserPoolClient"))

    @property
    def state_machine_arn(self) -> str:
        return self.ref(self.first("AWS::StepFunctions::StateMachine"))


Clients = Callable[[str], Any]
Rewrite = Callable[[Any], Any]


class Provisioner:
    """Names every resource first (as CloudFormation would, deterministically), then creates
    them in dependency order with their properties resolved."""

    def __init__(self, stack: SynthesizedStack, client: Clients, rewrite: Rewrite) -> None:
        self.stack = stack
        self.client = client
        self.rewrite = rewrite
        self.account = Account(stack, Names(stack.name))

    # -- naming -----------------------------------------------------------------------------

    def _generated(self, logical_id: str, limit: int = 64, lower: bool = False) -> str:
        name = f"{self.stack.name}-{logical_id}"[:limit]
        return name.lower() if lower else name

    def name_all(self) -> None:
        for logical_id, resource in self.stack.resources.items():
            self._name(logical_id, resource)

    def _name(self, logical_id: str, resource: Resource) -> None:  # noqa: C901 - one per type
        names = self.account.names
        props = resource.properties
        kind = resource.type
        arn = f"arn:aws:{kind.split('::')[1].lower()}:{REGION}:{ACCOUNT}:{logical_id}"
        if kind == "AWS::Lambda::Function":
            name = props.get("FunctionName") or self._generated(logical_id)
            names.refs[logical_id] = name
            arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        elif kind == "AWS::DynamoDB::Table":
            name = props.get("TableName") or self._generated(logical_id, 255)
            names.refs[logical_id] = name
            arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
        elif kind == "AWS::S3::Bucket":
            name = props.get("BucketName") or self._generated(logical_id, 63, lower=True)
            names.refs[logical_id] = name
            arn = f"arn:aws:s3:::{name}"
            names.attrs[(logical_id, "DomainName")] = f"{name}.s3.amazonaws.com"
            names.attrs[(logical_id, "RegionalDomainName")] = (
                f"{name}.s3.{REGION}.amazonaws.com")
        elif kind == "AWS::Kinesis::Stream":
            name = props.get("Name") or self._generated(logical_id, 128)
            names.refs[logical_id] = name
            arn = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{name}"
        elif kind == "AWS::SSM::Parameter":
            names.refs[logical_id] = props.get("Name") or self._generated(logical_id)
        elif kind == "AWS::IAM::Role":
            name = props.get("RoleName") or self._generated(logical_id)
            names.refs[logical_id] = name
            arn = f"arn:aws:iam::{ACCOUNT}:role/{name}"
        elif kind == "AWS::StepFunctions::StateMachine":
            name = props.get("StateMachineName") or self._generated(logical_id, 80)
            arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}"
            names.refs[logical_id] = arn
            names.attrs[(logical_id, "Name")] = name
        elif kind == "AWS::SNS::Topic":
            name = props.get("TopicName") or self._generated(logical_id, 256)
            arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:{name}"
            names.refs[logical_id] = arn
            names.attrs[(logical_id, "TopicName")] = name
        elif kind == "AWS::Logs::LogGroup":
            name = props.get("LogGroupName") or f"/stresslab/{logical_id}"
            names.refs[logical_id] = name
            arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*"
        elif kind == "AWS::ApiGatewayV2::Api":
            api_id = _short_id(logical_id)
            names.refs[logical_id] = api_id
            scheme = "wss" if props.get("ProtocolType") == "WEBSOCKET" else "https"
            names.attrs[(logical_id, "ApiEndpoint")] = (
                f"{scheme}://{api_id}.execute-api.{REGION}.amazonaws.com")
        elif kind == "AWS::CloudFront::Distribution":
            distribution = _short_id(logical_id, 13).upper()
            names.refs[logical_id] = distribution
            names.attrs[(logical_id, "DomainName")] = f"d{_short_id(logical_id, 13)}" \
                                                      ".cloudfront.net"
        elif kind == "AWS::SQS::Queue":
            name = props.get("QueueName") or self._generated(logical_id, 80)
            names.attrs[(logical_id, "QueueName")] = name
            arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
        elif kind.startswith(("AWS::Cognito::", "AWS::FIS::", "AWS::SecretsManager::")):
            return  # the service makes the id: named when created
        else:
            names.refs[logical_id] = self._generated(logical_id)
        names.attrs.setdefault((logical_id, "Arn"), arn)

    # -- creating -------------------------------------------------------------------------

    def provision(self) -> Account:
        self.name_all()
        pending = dict(self.stack.resources)
        while pending:
            progressed = False
            for logical_id, resource in list(pending.items()):
                creator = _CREATORS.get(resource.type)
                if creator is None:
                    self.account.recorded[logical_id] = resource.type
                    del pending[logical_id]
                    progressed = True
                    continue
                if any(dep in pending for dep in _references(resource, self.stack)):
                    continue
                try:
                    props = self.rewrite(resolve(resource.properties, self.account.names,
                                                 self._parameters()))
                    creator(self, resource, props)
                except Unresolved:
                    continue
                self.account.created[logical_id] = resource.type
                del pending[logical_id]
                progressed = True
            if not progressed:
                raise TemplateError(
                    "cannot order these resources (a reference cycle or a missing resource): "
                    + ", ".join(sorted(pending)))
        return self.account

    def _parameters(self) -> dict[str, str]:
        return {name: str(spec.get("Default", ""))
                for name, spec in self.stack.template.get("Parameters", {}).items()}


def _references(resource: Resource, stack: SynthesizedStack) -> set[str]:
    """Logical ids the resource refers to (Ref, GetAtt, Sub) or depends on, that are created."""
    found: set[str] = set(resource.depends_on)

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for key, value in node.items():
                if key == "Ref" and isinstance(value, str):
                    found.add(value)
                elif key == "Fn::GetAtt":
                    found.add(value[0] if isinstance(value, list) else value.split(".")[0])
                elif key == "Fn::Sub":
                    text = value if isinstance(value, str) else value[0]
                    found.update(n.split(".")[0] for n in re.findall(r"\$\{([^}!]+)\}", text))
                    walk(value)
                else:
                    walk(value)

    walk(resource.properties)
    resources = stack.resources
    # Only resources that get created hold up another; records never do (their names are known).
    return {ref for ref in found if ref in resources and resources[ref].type in _CREATORS
            and ref != resource.logical_id}


# -- one creator per resource type ----------------------------------------------------------


def _role(p: Provisioner, r: Resource, props: dict[str, Any]) -> None:
    p.client("iam").create_role(
        RoleName=p.account.ref(r.logical_id),
        AssumeRolePolicyDocument=json.dumps(props.get("AssumeRolePolicyDocument", {})))


def _table(p: Provisioner, r: Resource, props: dict[str, Any]) -> None:
    name = p.account.ref(r.logical_id)
    kwargs: dict[str, Any] = {
        "TableName": name, "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    if kwargs["BillingMode"] == "PROVISIONED":
        kwargs["ProvisionedThroughput"] = props.get(
            "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5})
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes", "StreamSpecification"):
        if key in props:
            kwargs[key] = props[key]
    dynamodb = p.client("dynamodb")
    dynamodb.create_table(**kwargs)
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)


def _bucket(p: Provisioner, r: Resource, props: dict[str, Any]) -> None:
    p.client("s3").create_bucket(Bucket=p.account.ref(r.logical_id))


def _stream(p: Provisioner, r: Resource, props: dict[str, Any]) -> None:
    mode = props.get("StreamModeDetails", {}).get("StreamMode", "PROVISIONED")
    kwargs: dict[str, Any] = {"StreamName": p.account.ref(r.logical_id),
                              "StreamModeDetails": {"StreamMode": mode}}
    if mode == "PROVISIONED":
        kwargs["ShardCount"] = int(props.get("ShardCount", 1))
    p.client("kinesis").create_stream(**kwargs)


def _queue(p: Provisioner, r: Resource, props: dict[str, Any]) -> None:
    name = p.account.names.attrs[(r.logical_id, "QueueName")]
    url = p.client("sqs").create_queue(QueueName=name)["QueueUrl"]
    p.account.names.refs[r.logical_id] = url


def _parameter(p: Provisioner, r: Resource, props: dict[str, Any]) -> None:
    p.client("ssm").put_parameter(Name=p.account.ref(r.logical_id), Value=str(props["Value"]),
                                  Type=props.get("Type", "String"), Overwrite=True)


def _secret(p: Provisioner, r: Resource, props: dict[str, Any]) -> None:
    name = props.get("Name") or f"{p.stack.name}-{r.logical_id}"
    value = props.get("SecretString") or secrets.token_urlsafe(48)
    arn = p.client("secretsmanager").create_secret(Name=name, SecretString=value)["ARN"]
    p.account.names.refs[r.logical_id] = arn
    p.account.names.attrs[(r.logical_id, "Id")] = arn


def _topic(p: Provisioner, r: Resource, props: dict[str, Any]) -> None:
    p.client("sns").create_topic(Name=p.account.names.attrs[(r.logical_id, "TopicName")])


def _user_pool(p: Provisioner, r: Resource, props: dict[str, Any]) -> None:
    kwargs: dict[str, Any] = {"PoolName": props.get("UserPoolName") or r.logical_id}
    for key in ("Policies", "MfaConfiguration", "AutoVerifiedAttributes", "AdminCreateUserConfig",
                "AccountRecoverySetting", "UsernameAttributes", "Schema"):
        if key in props:
            kwargs[key] = props[key]
    pool = p.client("cognito-idp").create_user_pool(**kwargs)["UserPool"]
    p.account.names.refs[r.logical_id] = pool["Id"]
    p.account.names.attrs[(r.logical_id, "Arn")] = pool["Arn"]
    p.account.names.attrs[(r.logical_id, "ProviderName")] = (
        f"cognito-idp.{REGION}.amazonaws.com/{pool['Id']}")
    p.account.names.attrs[(r.logical_id, "ProviderURL")] = (
        f"https://cognito-idp.{REGION}.amazonaws.com/{pool['Id']}")


def _user_pool_client(p: Provisioner, r: Resource, props: dict[str, Any]) -> None:
    kwargs: dict[str, Any] = {"UserPoolId": props["UserPoolId"],
                              "ClientName": props.get("ClientName") or r.logical_id}
    for key in ("ExplicitAuthFlows", "GenerateSecret", "AllowedOAuthFlows", "AllowedOAuthScopes",
                "CallbackURLs", "SupportedIdentityProviders", "PreventUserExistenceErrors",
                "AllowedOAuthFlowsUserPoolClient"):
        if key in props:
            kwargs[key] = props[key]
    created = p.client("cognito-idp").create_user_pool_client(**kwargs)["UserPoolClient"]
    p.account.names.refs[r.logical_id] = created["ClientId"]


def _group(p: Provisioner, r: Resource, props: dict[str, Any]) -> None:
    name = props.get("GroupName") or r.logical_id
    p.client("cognito-idp").create_group(UserPoolId=props["UserPoolId"], GroupName=name,
                                         Description=props.get("Description", ""))
    p.account.names.refs[r.logical_id] = name


def _function(p: Provisioner, r: Resource, props: dict[str, Any]) -> None:
    name = p.account.ref(r.logical_id)
    environment = {k: str(v) for k, v in props.get("Environment", {}).get("Variables", {}).items()}
    function = Function(
        logical_id=r.logical_id, name=name, arn=p.account.names.attrs[(r.logical_id, "Arn")],
        handler=props.get("Handler", ""), environment=environment,
        timeout_s=int(props.get("Timeout", 3)), memory_mb=int(props.get("MemorySize", 128)),
    )
    p.client("lambda").create_function(
        FunctionName=name, Runtime=props.get("Runtime", "python3.12"), Role=props["Role"],
        Handler=function.handler, Code={"ZipFile": _empty_zip()},
        Environment={"Variables": environment}, Timeout=function.timeout_s,
        MemorySize=function.memory_mb)
    p.account.functions[r.logical_id] = function


def _empty_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README", "the handler runs in-process in the emulation")
    return buffer.getvalue()


def _state_machine(p: Provisioner, r: Resource, props: dict[str, Any]) -> None:
    if "DefinitionString" in props:
        definition = props["DefinitionString"]
    elif "DefinitionS3Location" in props:
        definition = p.stack.asset(props["DefinitionS3Location"]["Key"]).read_text()
    else:
        definition = json.dumps(props["Definition"])
    substitutions = {k: str(v) for k, v in props.get("DefinitionSubstitutions", {}).items()}
    missing = sorted(set(_PLACEHOLDER.findall(definition)) - set(substitutions))
    if missing:
        raise TemplateError(f"state machine {r.logical_id}: no substitution for "
                            f"{', '.join(missing)}")
    definition = _PLACEHOLDER.sub(lambda m: substitutions[m.group(1)], definition)
    p.client("stepfunctions").create_state_machine(
        name=p.account.names.attrs[(r.logical_id, "Name")], definition=definition,
        roleArn=props["RoleArn"], type=props.get("StateMachineType", "STANDARD"))


def _camel(key: str) -> str:
    return key[:1].lower() + key[1:]


def _fis_template(p: Provisioner, r: Resource, props: dict[str, Any]) -> None:
    targets = {name: {_camel(k): v for k, v in target.items()}
               for name, target in props.get("Targets", {}).items()}
    actions = {name: {_camel(k): v for k, v in action.items()}
               for name, action in props.get("Actions", {}).items()}
    kwargs: dict[str, Any] = {
        "clientToken": r.logical_id, "description": props.get("Description", ""),
        "roleArn": props["RoleArn"], "targets": targets, "actions": actions,
        "stopConditions": [{_camel(k): v for k, v in c.items()}
                           for c in props.get("StopConditions", [])],
        "tags": props.get("Tags", {}),
    }
    if "ExperimentOptions" in props:
        kwargs["experimentOptions"] = {_camel(k): v
                                       for k, v in props["ExperimentOptions"].items()}
    template = p.client("fis").create_experiment_template(**kwargs)["experimentTemplate"]
    p.account.names.refs[r.logical_id] = template["id"]
    p.account.names.attrs[(r.logical_id, "Id")] = template["id"]
    p.account.fault_templates[template["id"]] = r.logical_id


def _alarm(p: Provisioner, r: Resource, props: dict[str, Any]) -> None:
    name = props.get("AlarmName") or f"{p.stack.name}-{r.logical_id}"
    kwargs = {k: v for k, v in props.items() if k not in ("Tags", "AlarmName")}
    p.client("cloudwatch").put_metric_alarm(AlarmName=name, **kwargs)
    p.account.names.refs[r.logical_id] = name
    p.account.names.attrs[(r.logical_id, "Arn")] = (
        f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}")


def _event_source_mapping(p: Provisioner, r: Resource, props: dict[str, Any]) -> None:
    function = p.account.function_by_name(props["FunctionName"])
    destination = props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
    p.account.stream_mappings.append(StreamMapping(
        function=function.logical_id, stream_arn=props["EventSourceArn"],
        batch_size=int(props.get("BatchSize", 100)),
        bisect_on_error=bool(props.get("BisectBatchOnFunctionError", False)),
        report_item_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
        max_retries=int(props.get("MaximumRetryAttempts", -1)),
        on_failure_arn=destination, starting_position=props.get("StartingPosition", "LATEST"),
    ))


def _integration_function(p: Provisioner, integration_id: str) -> str:
    uri = resolve(p.stack.resources[integration_id].properties["IntegrationUri"],
                  p.account.names)
    match = re.search(r"function:([^/:]+)", uri)
    if not match:
        raise TemplateError(f"integration {integration_id}: not a Lambda proxy ({uri})")
    try:
        return p.account.function_by_name(match.group(1)).logical_id
    except KeyError:
        raise Unresolved(match.group(1)) from None


def _route(p: Provisioner, r: Resource, props: dict[str, Any]) -> None:
    integration = r.properties["Target"]["Fn::Join"][1][1]["Ref"]
    function = _integration_function(p, integration)
    api = r.properties["ApiId"]["Ref"]
    route_key = props["RouteKey"]
    if p.stack.resources[api].properties.get("ProtocolType") == "WEBSOCKET":
        p.account.websocket_routes[route_key] = function
        return
    method, path = route_key.split(" ", 1) if " " in route_key else ("ANY", route_key)
    authorizer = None
    if props.get("AuthorizationType") == "JWT":
        authorizer = r.properties["AuthorizerId"]["Ref"]
    p.account.http_routes.append(HttpRoute(r.logical_id, method, path, function, authorizer))


def _authorizer(p: Provisioner, r: Resource, props: dict[str, Any]) -> None:
    if props.get("AuthorizerType") != "JWT":
        raise TemplateError(f"authoriser {r.logical_id}: only JWT authorisers are emulated")
    config = props["JwtConfiguration"]
    p.account.authorizers[r.logical_id] = JwtAuthorizer(
        issuer=config["Issuer"], audience=tuple(config.get("Audience", [])),
        identity_source=props["IdentitySource"][0])


def _stage(p: Provisioner, r: Resource, props: dict[str, Any]) -> None:
    api = r.properties["ApiId"]["Ref"]
    if p.stack.resources[api].properties.get("ProtocolType") == "WEBSOCKET":
        p.account.websocket_stage = props["StageName"]


def _bucket_deployment(p: Provisioner, r: Resource, props: dict[str, Any]) -> None:
    """What CDK's BucketDeployment does: every source's files, markers replaced, into the
    destination bucket under the prefix."""
    bucket = props["DestinationBucketName"]
    prefix = props.get("DestinationBucketKeyPrefix", "")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    markers = props.get("SourceMarkers") or [{} for _ in props["SourceObjectKeys"]]
    s3 = p.client("s3")
    for key, source_markers in zip(props["SourceObjectKeys"], markers, strict=True):
        for relative, body in _asset_files(p.stack.asset(key)):
            for marker, value in source_markers.items():
                body = body.replace(marker.encode(), str(value).encode())
            s3.put_object(Bucket=bucket, Key=f"{prefix}{relative}", Body=body,
                          ContentType=_content_type(relative))
    if any(f.endswith("index.html") for f, _ in _asset_files(p.stack.asset(
            props["SourceObjectKeys"][0]))):
        p.account.site_bucket = bucket


def _asset_files(path: Path) -> list[tuple[str, bytes]]:
    if path.is_dir():
        return [(str(f.relative_to(path)), f.read_bytes())
                for f in sorted(path.rglob("*")) if f.is_file()]
    with zipfile.ZipFile(path) as archive:
        return [(n, archive.read(n)) for n in archive.namelist() if not n.endswith("/")]


_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css",
          ".json": "application/json", ".svg": "image/svg+xml", ".png": "image/png",
          ".ico": "image/x-icon", ".map": "application/json", ".woff2": "font/woff2"}


def _content_type(name: str) -> str:
    return _TYPES.get(Path(name).suffix, "application/octet-stream")


_CREATORS: dict[str, Callable[[Provisioner, Resource, dict[str, Any]], None]] = {
    "AWS::IAM::Role": _role,
    "AWS::DynamoDB::Table": _table,
    "AWS::S3::Bucket": _bucket,
    "AWS::Kinesis::Stream": _stream,
    "AWS::SQS::Queue": _queue,
    "AWS::SSM::Parameter": _parameter,
    "AWS::SecretsManager::Secret": _secret,
    "AWS::SNS::Topic": _topic,
    "AWS::Cognito::UserPool": _user_pool,
    "AWS::Cognito::UserPoolClient": _user_pool_client,
    "AWS::Cognito::UserPoolGroup": _group,
    "AWS::Lambda::Function": _function,
    "AWS::StepFunctions::StateMachine": _state_machine,
    "AWS::FIS::ExperimentTemplate": _fis_template,
    "AWS::CloudWatch::Alarm": _alarm,
    "AWS::Lambda::EventSourceMapping": _event_source_mapping,
    "AWS::ApiGatewayV2::Route": _route,
    "AWS::ApiGatewayV2::Authorizer": _authorizer,
    "AWS::ApiGatewayV2::Stage": _stage,
    "Custom::CDKBucketDeployment": _bucket_deployment,
}
