"""`python -m tests.emulation`: the emulated AWS until Ctrl-C, with its URLs and a sign-in."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import tempfile
import threading
from pathlib import Path

from .system import AwsLocal
from .template import TemplateError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.emulation",
                                     description="stresslab's AWS runtime, emulated on 127.0.0.1")
    parser.add_argument("--port", type=int, default=8090,
                        help="the gateway's HTTP port (site, control API, WebSocket); 0 = any")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the synthesized app and the gateway's certificate go")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port: {args.port} is not a port number")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="stresslab-aws-local-"))
    print("stresslab aws-local: synthesizing the app and creating its resources ...", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        with AwsLocal(workdir, http_port=args.port, browser_sign_in=True) as aws:
            urls, operator = aws.urls, aws.operator
            assert operator is not None
            print(f"""
stresslab aws-local is up (everything on 127.0.0.1; Ctrl-C stops it)
  presentation   {urls.presentation}
  admin          {urls.admin}
  control API    {urls.api}   (Cognito JWT: Authorization: Bearer <IdToken>)
  live updates   {urls.websocket}
  console        {urls.console}   (executions, invocations, experiments, streams)
  moto (AWS API) {urls.moto}
  target         {aws.reference.score_url}   (the reference fraud service)
operator sign-in (Cognito user pool {aws.account.user_pool_id}, group operators)
  username       {operator.username}
  password       {operator.password}
  (sign in on the admin page; the pool asks for an authenticator: moto accepts any 6 digits,
   unless MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP=true; scripts can use USER_PASSWORD_AUTH)
""", flush=True)
            try:
                stopped.wait()
            except KeyboardInterrupt:
                pass
            print("stresslab aws-local: stopping", flush=True)
    except (TemplateError, OSError) as error:
        print(f"stresslab aws-local: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
