"""`python -m reference_service`: serve the reference fraud-detection target."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import NoReturn

from pydantic import ValidationError

from reference_service.cluster import MAX_PROCESSES, default_processes
from reference_service.config import TOKEN_ENV
from reference_service.service import RemoteBindRefused, TargetConfig
from reference_service.serving import serve


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="python -m reference_service",
        description="Serve the reference fraud-detection service (orchestrator + 4 agents).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    add_serving_arguments(parser)
    parser.add_argument("--config", type=Path, help="JSON file holding a TargetConfig")
    return parser


def add_serving_arguments(parser: argparse.ArgumentParser) -> None:
    """--port, --admin-port and --allow-remote, shared with `stresslab target`."""
    parser.add_argument("--port", type=int, default=8088, help="port to bind, 0 for any free one")
    parser.add_argument("--admin-port", type=int, default=0,
                        help="port of the admin API (its own thread), 0 for any free one")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a non-loopback --host (the service then faces the network)")
    parser.add_argument("--processes", type=int, default=None,
                        help="processes serving (default: this machine's cores, at most "
                             "8); each card is held by one of them")
    parser.add_argument("--process-ports", default="",
                        help="comma-separated port of each process (default: free ones), so a "
                             "restarted service keeps them")


def serve_from_arguments(
    parser: argparse.ArgumentParser, args: argparse.Namespace, config: TargetConfig | None,
) -> None:
    """Serve with the parsed flags; bad ones and unusable addresses end in one line."""
    for flag, port in (("--port", args.port), ("--admin-port", args.admin_port)):
        if not 0 <= port <= 65_535:
            parser.error(f"{flag}: must be within 0..65535")
    processes = default_processes() if args.processes is None else args.processes
    if not 1 <= processes <= MAX_PROCESSES:
        parser.error(f"--processes: must be within 1..{MAX_PROCESSES}")
    process_ports = _process_ports(parser, args.process_ports, processes)
    token = os.environ.get(TOKEN_ENV)
    if token:
        try:
            config = (config or TargetConfig()).model_copy(update={"admin_token": token})
            TargetConfig.model_validate(config.model_dump())
        except ValidationError:
            parser.error(f"{TOKEN_ENV}: must be 16-256 characters")
    try:
        status = serve(args.host, args.port, config, admin_port=args.admin_port,
                       allow_remote=args.allow_remote, processes=processes,
                       process_ports=process_ports)
    except RemoteBindRefused as refused:
        parser.error(str(refused))
    except OSError as cannot_bind:
        sys.exit(f"{parser.prog}: error: cannot listen on {args.host}:{args.port}: {cannot_bind}")
    if status:
        sys.exit(status)


def _process_ports(parser: argparse.ArgumentParser, text: str, processes: int) -> tuple[int, ...]:
    if not text:
        return ()
    try:
        ports = tuple(int(part) for part in text.split(","))
    except ValueError:
        parser.error(f"--process-ports: {text[:40]!r} is not comma-separated port numbers")
    if len(ports) != processes or not all(0 <= port <= 65_535 for port in ports):
        parser.error(f"--process-ports: {processes} ports within 0..65535, one per process")
    return ports


def _load_config(parser: argparse.ArgumentParser, path: Path | None) -> TargetConfig | None:
    if path is None:
        return None
    try:
        return TargetConfig.model_validate_json(path.read_bytes())
    except OSError as unreadable:
        parser.error(f"--config: cannot read {path}: {unreadable.strerror}")
    except ValidationError as invalid:
        first = invalid.errors(include_url=False)[0]
        field = ".".join(str(part) for part in first["loc"]) or "config"
        message = str(first["msg"]).replace("\n", " ")
        parser.error(f"--config: {field}: {message}")


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    serve_from_arguments(parser, args, _load_config(parser, args.config))


if __name__ == "__main__":
    main()
