"""AwsLocal: the whole emulated AWS on one machine — moto server, the synthesized stack's
resources, the real handlers, the gateway, the stream poller, FIS on the reference service."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime
import functools
import logging
import os
import secrets
import string
import threading
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from stresslab.runs import OPERATORS_GROUP

from .account import Account, Function, Provisioner
from .faults import FisCarrier
from .gateway import API_PREFIX, Gateway
from .runtime import LambdaRuntime, install_invocation_environ
from .streams import StreamPoller
from .template import REGION, SynthesizedStack, synthesize

logger = logging.getLogger(__name__)
# Load generators run in processes of their own: twenty in this interpreter would share one GIL
# with moto and the gateway, and measure this process's CPU as theirs.
ISOLATED_HANDLERS = frozenset({"lambdas.load_generator.handler"})
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@dataclass(frozen=True)
class Operator:
    username: str
    password: str


@dataclass
class Urls:
    site: str
    presentation: str
    admin: str
    api: str
    websocket: str
    console: str
    moto: str


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1: the management endpoint must be https (WS_ENDPOINT)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stresslab aws-local")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "gateway.pem", directory / "gateway.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


def generated_password(length: int = 20) -> str:
    """One that every Cognito password policy accepts: all four classes of character."""
    alphabet = string.ascii_letters + string.digits
    body = [secrets.choice(alphabet) for _ in range(length - 4)]
    return "".join(body + [secrets.choice(string.ascii_uppercase),
                           secrets.choice(string.ascii_lowercase),
                           secrets.choice(string.digits), secrets.choice("!#%+-=?@^_")])


@dataclass
class AwsLocal:
    """Start with `start()`, end with `stop()` (or use it as a context manager)."""

    workdir: Path
    http_port: int = 0
    stack: SynthesizedStack | None = None
    # For people at a browser: config.json also names the gateway's Cognito endpoint and the
    # reference service as the default target (the stack's own names neither).
    browser_sign_in: bool = False
    account: Account = field(init=False)
    runtime: LambdaRuntime = field(init=False)
    gateway: Gateway = field(init=False)
    carrier: FisCarrier = field(init=False)
    pollers: list[StreamPoller] = field(default_factory=list)
    operator: Operator | None = None
    reference: Any = None
    _exits: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    _saved_env: dict[str, str | None] = field(default_factory=dict)

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> AwsLocal:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        install_invocation_environ()
        self.workdir.mkdir(parents=True, exist_ok=True)
        cert, key = _self_signed(self.workdir)
        if self.stack is None:
            self.stack = synthesize(self.workdir / "cdk.out")
        self._start_moto()
        self.gateway = Gateway(cert, key)
        self._exits.callback(self.gateway.stop)
        self.gateway.start(self.http_port)
        provisioner = Provisioner(self.stack, self.client, lambda value: value)
        provisioner.rewrite = self.rewriter(provisioner)
        self.account = provisioner.provision()
        jwks_url = f"{self.moto_url}/{self.account.user_pool_id}/.well-known/jwks.json"
        self.runtime = LambdaRuntime(self.account, {
            **CREDENTIALS, "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": self.moto_url, "AWS_CA_BUNDLE": str(cert),
            "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "WARNING",
            "TZ": ":UTC",
        }, additions=lambda f: self._emulation_additions(f, jwks_url),
            isolated=ISOLATED_HANDLERS, workdir=self.workdir)
        self.runtime.forget_cold_starts()
        self._exits.callback(self.runtime.forget_cold_starts)
        self._install_lambda_invoke()
        self.gateway.attach(self.account, self.runtime.invoke, self.client("s3"), jwks_url,
                            self.console)
        self._start_reference_service()
        self.gateway.moto_url = self.moto_url
        if self.browser_sign_in:
            self.gateway.config_extras = {"cognito_endpoint": f"{self.gateway.http_url}/cognito/",
                                          "target_url": self.reference.score_url}
        self.carrier = FisCarrier(lambda: self.reference.faults(), self.gateway._loop)
        self.carrier.start()
        self._exits.callback(self.carrier.stop)
        for mapping in self.account.stream_mappings:
            poller = StreamPoller(mapping, self.client("kinesis"), self.client("sqs"),
                                  self.runtime.invoke)
            poller.start()
            self._exits.callback(poller.stop)
            self.pollers.append(poller)
        self.operator = self.create_operator("operator@stresslab.local")

    def stop(self) -> None:
        self._exits.close()
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()

    def _set_host_env(self, name: str, value: str) -> None:
        self._saved_env.setdefault(name, os.environ.get(name))
        os.environ[name] = value

    def _start_moto(self) -> None:
        from moto.core.models import default_user_config
        from moto.kinesis.models import Shard
        from moto.server import ThreadedMotoServer

        from tests.integration.aws.sfn_harness import (
            InProcessLambdas,
            aws_sdk_casing,
            tolerated_failures,
        )

        previous = copy.deepcopy(default_user_config)
        default_user_config["lambda"] = {"use_docker": False}
        default_user_config["stepfunctions"] = {"execute_state_machine": True}
        self._exits.callback(lambda: default_user_config.update(previous))
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.moto.start()
        self._exits.callback(self.moto.stop)
        host, port = self.moto.get_host_and_port()
        self.moto_url = f"http://{host}:{port}"
        # moto's backends live in this process, not in the server: a fresh account, not the
        # resources of an emulation this process ran before (its streams, tables, users).
        urllib.request.urlopen(urllib.request.Request(  # noqa: S310 - our own moto on loopback
            f"{self.moto_url}/moto-api/reset", method="POST"), timeout=30).close()
        # moto's interpreter calls Lambda and the AWS SDK integrations at localhost:MOTO_PORT.
        self._set_host_env("MOTO_PORT", str(port))
        for name, value in {**CREDENTIALS, "AWS_DEFAULT_REGION": REGION}.items():
            self._set_host_env(name, value)
        # moto's Shard.put_record is "not safe for concurrency" (two puts can take one sequence
        # number and a record is lost); the load generators put at once, as in AWS.
        lock = threading.Lock()
        original = Shard.put_record

        def serialised(shard: Shard, *args: Any, **kwargs: Any) -> Any:
            with lock:
                return original(shard, *args, **kwargs)

        Shard.put_record = serialised  # type: ignore[method-assign,assignment]
        self._exits.callback(lambda: setattr(Shard, "put_record", original))
        self.lambdas = InProcessLambdas()
        self._exits.enter_context(self.lambdas.installed())
        self._exits.enter_context(tolerated_failures())
        self._exits.enter_context(aws_sdk_casing())

    def _install_lambda_invoke(self) -> None:
        """moto's Lambda Invoke (what the state machine's tasks call) runs the real handler."""
        for function in self.account.functions.values():
            self.lambdas.register(function.name, functools.partial(self._invoke_task,
                                                                   function.logical_id))

    def _invoke_task(self, logical_id: str, event: dict[str, Any], _context: Any) -> Any:
        return self.runtime.invoke(logical_id, event)

    def _start_reference_service(self) -> None:
        from stresslab.local.reference_process import ReferenceService

        loop = self.gateway._loop
        self.reference = asyncio.run_coroutine_threadsafe(ReferenceService.start(),
                                                          loop).result(60)
        self._exits.callback(
            lambda: asyncio.run_coroutine_threadsafe(self.reference.stop(), loop).result(30))

    def _emulation_additions(self, function: Function, jwks_url: str) -> dict[str, str]:
        # Cognito's keys are not at cognito-idp.<region>.amazonaws.com here: the one variable
        # the handlers accept for that (ws_connect's settings) points at moto's.
        if "USER_POOL_ID" in function.environment:
            return {"USER_POOL_JWKS_URL": jwks_url}
        return {}

    def rewriter(self, provisioner: Provisioner) -> Callable[[Any], Any]:
        """Public endpoints the template builds (execute-api, CloudFront) -> the gateway."""

        def table() -> list[tuple[str, str]]:
            names = provisioner.account.names
            pairs = []
            for logical_id, resource in provisioner.stack.resources.items():
                endpoint = names.attrs.get((logical_id, "ApiEndpoint"))
                if resource.type == "AWS::ApiGatewayV2::Api" and endpoint:
                    host = endpoint.split("://", 1)[1]
                    if resource.properties.get("ProtocolType") == "WEBSOCKET":
                        pairs += [(f"wss://{host}", self.gateway.http_url.replace("http", "ws")),
                                  (f"https://{host}", self.gateway.https_url)]
                    else:
                        pairs.append((f"https://{host}", self.gateway.http_url + API_PREFIX))
                domain = names.attrs.get((logical_id, "DomainName"))
                if resource.type == "AWS::CloudFront::Distribution" and domain:
                    pairs.append((f"https://{domain}", self.gateway.http_url))
            return pairs

        def rewrite(value: Any) -> Any:
            if isinstance(value, str):
                for public, local in table():
                    value = value.replace(public, local)
                return value
            if isinstance(value, list):
                return [rewrite(v) for v in value]
            if isinstance(value, dict):
                return {k: rewrite(v) for k, v in value.items()}
            return value

        return rewrite

    # -- for operators and tests -------------------------------------------------------------

    def on_service_loop(self, coroutine: Any, timeout_s: float = 30) -> Any:
        """Run a coroutine on the loop that holds the reference service (and the gateway)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.gateway._loop).result(timeout_s)

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=self.moto_url,
                            aws_access_key_id="testing", aws_secret_access_key="testing",
                            config=Config(retries={"mode": "standard", "max_attempts": 3}))

    @property
    def urls(self) -> Urls:
        base = self.gateway.http_url
        stage = self.account.websocket_stage
        return Urls(site=f"{base}/", presentation=f"{base}/presentation.html",
                    admin=f"{base}/admin.html", api=f"{base}{API_PREFIX}",
                    websocket=f"{base.replace('http', 'ws')}/{stage}",
                    console=f"{base}/console", moto=self.moto_url)

    def create_operator(self, username: str) -> Operator:
        cognito = self.client("cognito-idp")
        password = generated_password()
        pool = self.account.user_pool_id
        cognito.admin_create_user(UserPoolId=pool, Username=username,
                                  MessageAction="SUPPRESS", TemporaryPassword=password)
        cognito.admin_set_user_password(UserPoolId=pool, Username=username, Password=password,
                                        Permanent=True)
        cognito.admin_add_user_to_group(UserPoolId=pool, Username=username,
                                        GroupName=OPERATORS_GROUP)
        return Operator(username, password)

    def sign_in(self, operator: Operator) -> dict[str, str]:
        """Cognito's tokens for the operator (USER_PASSWORD_AUTH against the emulated pool)."""
        answer = self.client("cognito-idp").initiate_auth(
            ClientId=self.account.user_pool_client_id, AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": operator.username, "PASSWORD": operator.password})
        return dict(answer["AuthenticationResult"])

    def console(self) -> dict[str, Any]:
        """What the AWS console would show: executions, invocations, experiments, streams."""
        sfn = self.client("stepfunctions")
        executions = sfn.list_executions(stateMachineArn=self.account.state_machine_arn,
                                         maxResults=100)["executions"]
        counts: dict[str, dict[str, int]] = {}
        for invocation in list(self.runtime.invocations):
            per = counts.setdefault(self.account.functions[invocation.function].name, {})
            outcome = "ok" if invocation.outcome == "ok" else "error"
            per[outcome] = per.get(outcome, 0) + 1
        return {
            "state_machine": self.account.state_machine_arn,
            "executions": [{"name": e["name"], "status": e["status"],
                            "started": e["startDate"], "stopped": e.get("stopDate")}
                           for e in executions],
            "invocations": counts,
            "experiments": [vars(event) for event in self.carrier.timeline],
            "stream_mappings": [vars(p.stats) for p in self.pollers],
            "websocket_connections": len(self.gateway.connections),
        }
