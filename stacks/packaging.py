"""Stages the one Lambda asset without Docker: pinned Linux wheels plus the stresslab sources."""

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# The Lambda runtime the wheels are chosen for; docs/aws-runtime.md fixes python3.12 on x86_64.
PYTHON_VERSION = "3.12"
PLATFORM = "manylinux2014_x86_64"

# Folders of the repository copied into the asset as they are: the code, and the data the core
# reads next to its package (bundled scenarios, price table, benchmarks).
SOURCE_FOLDERS = ("stresslab", "reference_service", "lambdas", "scenarios", "config")

_IGNORED_DIRS = ("__pycache__", ".pytest_cache", ".mypy_cache")
_IGNORED = shutil.ignore_patterns(*_IGNORED_DIRS, "*.pyc")


@dataclass(frozen=True)
class StagedAsset:
    """A staged asset folder and the hash that names it (used as the CDK asset hash)."""

    path: Path
    asset_hash: str


class StagingError(RuntimeError):
    """The asset could not be staged; the message says why and what to do."""


def stage_lambda_asset(root: Path, staging_dir: Path) -> StagedAsset:
    """Stage the wheels of requirements-lambda.txt and the sources; reuse what is already there.

    The wheels are cached by the hash of the requirements file alone, so a change to the sources
    links them into a new asset but never downloads them again. Each folder is built under a
    temporary name and renamed when complete, so a folder that exists is complete.
    """
    requirements = root / "requirements-lambda.txt"
    deps_hash = _hash_files([requirements], root)
    deps = staging_dir / f"deps-{deps_hash[:16]}"
    if not deps.is_dir():
        _install_wheels(requirements, deps)

    asset_hash = _hash_files([requirements, *_source_files(root)], root)
    asset = staging_dir / f"lambda-{asset_hash[:16]}"
    if not asset.is_dir():
        _assemble(root, deps, asset)
        _remove_stale(staging_dir, keep={deps.name, asset.name})
    return StagedAsset(path=asset, asset_hash=asset_hash)


def _source_files(root: Path) -> list[Path]:
    files = []
    for folder in SOURCE_FOLDERS:
        for path in sorted((root / folder).rglob("*")):
            ignored = path.suffix == ".pyc" or any(part in _IGNORED_DIRS for part in path.parts)
            if path.is_file() and not ignored:
                files.append(path)
    return files


def _hash_files(files: list[Path], root: Path) -> str:
    digest = hashlib.sha256(f"{PLATFORM}/cp{PYTHON_VERSION}".encode())
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def _install_wheels(requirements: Path, target: Path) -> None:
    building = _building(target)
    shutil.rmtree(building, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "pip", "install",
        "--quiet", "--disable-pip-version-check", "--no-input", "--no-compile",
        "--platform", PLATFORM, "--only-binary=:all:",
        "--python-version", PYTHON_VERSION, "--implementation", "cp",
        "--target", str(building), "-r", str(requirements),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        shutil.rmtree(building, ignore_errors=True)
        reason = (result.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise StagingError(
            "stresslab: cannot stage the Lambda dependencies: pip could not fetch the "
            f"{PLATFORM} cp{PYTHON_VERSION.replace('.', '')} wheels of {requirements.name} "
            f"({reason}). Synthesize once with PyPI reachable (the wheels are then cached in "
            f"{target.parent}), or point pip at a wheelhouse with PIP_NO_INDEX=1 "
            "PIP_FIND_LINKS=DIR."
        )
    _publish(building, target)


def _assemble(root: Path, deps: Path, asset: Path) -> None:
    building = _building(asset)
    shutil.rmtree(building, ignore_errors=True)
    # Hard links: the wheels are never written to, and a relink is instant.
    shutil.copytree(deps, building, copy_function=os.link)
    for folder in SOURCE_FOLDERS:
        shutil.copytree(root / folder, building / folder, ignore=_IGNORED)
    _publish(building, asset)


def _building(target: Path) -> Path:
    return target.with_name(f"{target.name}.tmp-{os.getpid()}")


def _publish(building: Path, target: Path) -> None:
    try:
        building.rename(target)
    except OSError:
        # Another synthesis (tests and `make synth` at once) staged the same content first.
        if not target.is_dir():
            raise
        shutil.rmtree(building, ignore_errors=True)


def _remove_stale(staging_dir: Path, keep: set[str]) -> None:
    for path in staging_dir.iterdir():
        finished = path.name.startswith(("deps-", "lambda-")) and ".tmp-" not in path.name
        if finished and path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)
