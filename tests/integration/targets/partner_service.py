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
    answer_without_action: bool = False


@dataclass
class Ledger:
    answered: dict[str, str] = field(default_factory=dict)
    refused: int = 0
    tokens_issued: int = 0
    expired_tokens_presented: int = 0
    query_codes: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def build_app(settings: PartnerSettings, ledger: Ledger) -> FastAPI:
    app = FastAPI()
    tokens: dict[str, float] = {}

    def refuse(status: int) -> None:
        with ledger.lock:
            ledger.refused += 1
        raise HTTPException(status_code=status, detail="not authorised")

    def check_bearer(authorization: str | None) -> None:
        if settings.client_id is None:
            return
        if not authorization or not authorization.startswith("Bearer "):
            refuse(401)
        expires = tokens.get(authorization.removeprefix("Bearer "))  # type: ignore[union-attr]
        if expires is None:
            refuse(401)
        elif time.monotonic() >= expires:
            with ledger.lock:
                ledger.expired_tokens_presented += 1
            refuse(401)

    @app.post("/token")
    async def token(
        request: Request, authorization: Annotated[str | None, Header()] = None,
    ) -> dict[str, object]:
        # the form by hand: FastAPI's Form() needs python-multipart for one urlencoded field
        form = parse_qs((await request.body()).decode())
        grant_type = form.get("grant_type", [""])[0]
        expected = base64.b64encode(f"{settings.client_id}:{settings.client_secret}".encode())
        if grant_type != "client_credentials" or authorization != f"Basic {expected.decode()}":
            raise HTTPException(status_code=401, detail="invalid_client")
        issued = secrets.token_urlsafe(24)
        tokens[issued] = time.monotonic() + settings.token_lifetime
        with ledger.lock:
            ledger.tokens_issued += 1
        return {"access_token": issued, "token_type": "Bearer",
                "expires_in": settings.token_lifetime}

    @app.post("/api/v2/assess")
    def assess(
        assessment: Assessment, request: Request,
        x_api_key: Annotated[str | None, Header()] = None,
        authorization: Annotated[str | None, Header()] = None,
    ) -> dict[str, object]:
        if settings.api_key is not None and x_api_key != settings.api_key:
            refuse(403)
        check_bearer(authorization)
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
