"""`python -m tests.emulation`: the emulated AWS until Ctrl-C, with its URLs and a sign-in."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from .system import AwsLocal
from .template import ROOT, SynthesizedStack, TemplateError

# CDK's jsii runs a node process: synthesized here, that process joins the terminal's group,
# dies of the same Ctrl-C and leaves jsii a broken pipe to trace back at exit.
_SYNTHESIZE_APART = """
import json, sys
from pathlib import Path
from tests.emulation.template import synthesize
stack = synthesize(Path(sys.argv[1]))
Path(sys.argv[2]).write_text(json.dumps({"name": stack.name, "template": stack.template}))
"""


def synthesized_apart(outdir: Path) -> SynthesizedStack:
    """The app synthesized in a process of its own session, out of reach of the terminal."""
    written = outdir.parent / "synthesized-stack.json"
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-c", _SYNTHESIZE_APART, str(outdir), str(written)], cwd=ROOT,
        capture_output=True, text=True, start_new_session=True, check=False)
    if done.returncode != 0:
        raise TemplateError(f"synthesizing the app failed: {done.stderr.strip()[-2000:]}")
    stack = json.loads(written.read_text())
    return SynthesizedStack(stack["name"], stack["template"], outdir)


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
        stack = synthesized_apart(workdir / "cdk.out")
        with AwsLocal(workdir, http_port=args.port, browser_sign_in=True, stack=stack) as aws:
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
