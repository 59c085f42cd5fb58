"""A foreign fraud API stresslab did not shape: FastAPI, its own schema, its own auth.

POST /api/v2/assess takes {txn_ref, value: {minor, ccy}, card_bin, merchant_category, country}
and answers {outcome: {action: DECLINE|CHALLENGE|ACCEPT}}; POST /token issues short-lived
OAuth2 client-credentials tokens. It keeps its own ledger of what it was asked and answered.
"""

from __future__ import annotations

import base64
import secrets
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

import uvicorn
import yaml
from fastapi import FastAPI, Header, HTTPException, Request
from pydantic import BaseModel, ConfigDict

from tests.conftest import free_port

HIGH_RISK_MCC = {"7995", "6051", "4829"}
# the issue's scenario file, exactly as written there (its target is this service)
ISSUE_SCENARIO = Path(__file__).with_name("partner-api.yaml")


def issue_target(base_url: str) -> dict[str, Any]:
    """The issue file's target section; only the URL's port changes (to this service's)."""
    port = base_url.rsplit(":", 1)[1]
    text = ISSUE_SCENARIO.read_text().replace("http://127.0.0.1:9000/", f"http://127.0.0.1:{port}/")
    target: dict[str, Any] = yaml.safe_load(text)["target"]
    return target


class Value(BaseModel):
    model_config = ConfigDict(extra="forbid")

    minor: int
    ccy: str


class Assessment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    txn_ref: str
    value: Value
    card_bin: str
    merchant_category: str
    country: str


def action_for(assessment: Assessment) -> str:
    """The partner's own rule: gambling, crypto and wires declined, big amounts challenged."""
    if assessment.merchant_category in HIGH_RISK_MCC:
        return "DECLINE"
    if assessment.value.minor >= 100_000:
        return "CHALLENGE"
    return "ACCEPT"


@dataclass
class PartnerSettings:
    api_key: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    token_lifetime: float = 2.0
    client_auth: str = "basic"
    answer_without_action: bool = False


@dataclass
class Ledger:
    answered: dict[str, str] = field(default_factory=dict)
    refused: int = 0
    tokens_issued: int = 0
    expired_tokens_presented: int = 0
    query_codes: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class PartnerAuth:
    """The partner's own checks: API key, client authentication, bearer tokens it issued."""

    def __init__(self, settings: PartnerSettings, ledger: Ledger) -> None:
        self.settings = settings
        self.ledger = ledger
        self.tokens: dict[str, float] = {}

    def refuse(self, status: int) -> None:
        with self.ledger.lock:
            self.ledger.refused += 1
        raise HTTPException(status_code=status, detail="not authorised")

    def check_api_key(self, x_api_key: str | None) -> None:
        if self.settings.api_key is not None and x_api_key != self.settings.api_key:
            self.refuse(403)

    def check_bearer(self, authorization: str | None) -> None:
        if self.settings.client_id is None:
            return
        expires = self.tokens.get((authorization or "").removeprefix("Bearer "))
        if expires is None or not (authorization or "").startswith("Bearer "):
            self.refuse(401)
        elif time.monotonic() >= expires:
            with self.ledger.lock:
                self.ledger.expired_tokens_presented += 1
            self.refuse(401)

    def client_known(self, form: dict[str, str], authorization: str | None) -> bool:
        """RFC 6749 2.3.1: client_secret_basic, or client_secret_post in the form."""
        settings = self.settings
        if settings.client_auth == "body":
            given = (form.get("client_id"), form.get("client_secret"))
            return authorization is None and given == (settings.client_id, settings.client_secret)
        expected = base64.b64encode(f"{settings.client_id}:{settings.client_secret}".encode())
        return authorization == f"Basic {expected.decode()}" and "client_secret" not in form

    def issue(self) -> dict[str, object]:
        issued = secrets.token_urlsafe(24)
        self.tokens[issued] = time.monotonic() + self.settings.token_lifetime
        with self.ledger.lock:
            self.ledger.tokens_issued += 1
        return {"access_token": issued, "token_type": "Bearer",
                "expires_in": self.settings.token_lifetime}


def build_app(settings: PartnerSettings, ledger: Ledger) -> FastAPI:
    app = FastAPI()
    auth = PartnerAuth(settings, ledger)

    @app.post("/token")
    async def token(
        request: Request, authorization: Annotated[str | None, Header()] = None,
    ) -> dict[str, object]:
        # the form by hand: FastAPI's Form() needs python-multipart for one urlencoded field
        fields = parse_qs((await request.body()).decode())
        form = {name: values[0] for name, values in fields.items()}
        if form.get("grant_type") != "client_credentials" or not auth.client_known(
            form, authorization
        ):
            raise HTTPException(status_code=401, detail="invalid_client")
        return auth.issue()

    @app.post("/api/v2/assess")
    def assess(
        assessment: Assessment, request: Request,
        x_api_key: Annotated[str | None, Header()] = None,
        authorization: Annotated[str | None, Header()] = None,
    ) -> dict[str, object]:
        auth.check_api_key(x_api_key)
        auth.check_bearer(authorization)
        action = action_for(assessment)
        with ledger.lock:
            ledger.answered[assessment.txn_ref] = action
            ledger.query_codes += request.query_params.getlist("code")
        if settings.answer_without_action:
            return {"outcome": {"status": "queued"}}
        return {"outcome": {"action": action, "model": "partner-v2"}}

    return app


@dataclass
class RunningPartner:
    base_url: str
    ledger: Ledger


@contextmanager
def serve_partner(
    settings: PartnerSettings, tls: tuple[str, str, str] | None = None,
) -> Iterator[RunningPartner]:
    """The partner API on 127.0.0.1 in a thread; tls = (cert, key, client CA) requires mTLS."""
    ledger = Ledger()
    port = free_port()
    config = uvicorn.Config(
        build_app(settings, ledger), host="127.0.0.1", port=port, log_level="warning",
        lifespan="off", loop="asyncio", http="h11",
        **({} if tls is None else {
            "ssl_certfile": tls[0], "ssl_keyfile": tls[1], "ssl_ca_certs": tls[2],
            "ssl_cert_reqs": ssl.CERT_REQUIRED,
        }),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the partner service did not start")
        time.sleep(0.02)
    scheme = "http" if tls is None else "https"
    try:
        yield RunningPartner(f"{scheme}://127.0.0.1:{port}", ledger)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
