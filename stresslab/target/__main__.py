"""`python -m stresslab.target`: serve the reference fraud-detection target."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

from pydantic import ValidationError

from stresslab.target.service import TargetConfig, serve


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="python -m stresslab.target",
        description="Serve the reference fraud-detection service (orchestrator + 4 agents).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8088, help="port to bind, 0 for any free one")
    parser.add_argument("--config", type=Path, help="JSON file holding a TargetConfig")
    return parser


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
    if not 0 <= args.port <= 65_535:
        parser.error("--port: must be within 0..65535")
    config = _load_config(parser, args.config)
    try:
        serve(args.host, args.port, config)
    except OSError as cannot_bind:
        sys.exit(f"{parser.prog}: error: cannot listen on {args.host}:{args.port}: {cannot_bind}")


if __name__ == "__main__":
    main()
