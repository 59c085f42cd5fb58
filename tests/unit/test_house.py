"""House rules checked on the tree: pinned dependencies agree everywhere, modules stay short."""

import ast
import io
import re
import shutil
import subprocess
import sys
import tokenize
import tomllib
import zipfile
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]

# The Lambda runtime brings boto3, the Powertools layer brings Powertools, and CDK only
# synthesizes: none of them goes into the staged asset.
NOT_IN_LAMBDA_ASSET = frozenset(
    {"boto3", "aws-lambda-powertools", "aws-cdk-lib", "constructs", "cdk-nag"}
)

MAX_MODULE_LINES = 500
# A module may be longer when its docstring or its leading comments say why, e.g.
# """Report sections. Longer than 500 lines because the sections share one layout."""
LONG_MODULE_REASON = re.compile(r"Longer than 500 lines because \S+")
PACKAGES = ("stresslab", "reference_service")


def _pin(line: str) -> str:
    """`Name[extras]==version` as one comparable string, the name normalized (PEP 503)."""
    requirement = Requirement(line)
    name = re.sub(r"[-_.]+", "-", requirement.name).lower()
    extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
    return f"{name}{extras}{requirement.specifier}"


def _file_pins(path: Path) -> set[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return {_pin(line) for line in lines if line and not line.startswith("-r ")}


def _name(pin: str) -> str:
    return re.split(r"[\[=<>!~]", pin, maxsplit=1)[0]


def pin_disagreements(root: Path) -> list[str]:
    """Each way requirements*.txt and pyproject.toml's dependencies differ, one line each."""
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    core = {_pin(line) for line in project.get("dependencies", [])}
    extras = project.get("optional-dependencies", {})
    aws = {_pin(line) for line in extras.get("aws", [])}
    dev = {_pin(line) for line in extras.get("dev", [])}
    expected = {
        "requirements.txt": ("[project] dependencies", core),
        "requirements-dev.txt": ("extras aws + dev", aws | dev),
        "requirements-lambda.txt": (
            "dependencies + extra aws less boto3, Powertools, CDK",
            core | {pin for pin in aws if _name(pin) not in NOT_IN_LAMBDA_ASSET},
        ),
    }
    problems = []
    for file_name, (meaning, wanted) in expected.items():
        found = _file_pins(root / file_name)
        problems += [
            f"{file_name} pins {pin}, not in pyproject.toml ({meaning})" for pin in found - wanted
        ]
        problems += [
            f"pyproject.toml ({meaning}) pins {pin}, {file_name} does not" for pin in wanted - found
        ]
    return sorted(problems)


def _leading_text(source: str) -> str:
    """The module docstring and the comments above the first statement."""
    comments = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments.append(token.string)
        elif token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.ENCODING):
            break
    docstring = ast.get_docstring(ast.parse(source)) or ""
    return " ".join([*comments, docstring])


def long_modules_without_a_reason(root: Path) -> list[str]:
    """Modules over MAX_MODULE_LINES lines whose top does not say why they are that long."""
    found = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            lines = len(source.splitlines())
            if lines > MAX_MODULE_LINES and not LONG_MODULE_REASON.search(_leading_text(source)):
                found.append(f"{path.relative_to(root)}: {lines} lines")
    return found


def test_requirements_files_pin_what_pyproject_declares() -> None:
    assert pin_disagreements(ROOT) == []


def test_a_pin_only_in_a_requirements_file_is_named(tmp_path: Path) -> None:
    # Given a tree whose requirements.txt pins a package pyproject.toml does not declare
    for name in ("pyproject.toml", "requirements-dev.txt", "requirements-lambda.txt"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    (tmp_path / "requirements.txt").write_text(
        (ROOT / "requirements.txt").read_text() + "tabulate==0.9.0\n"
    )

    # Then the check names the file, the pin and what it disagrees with
    assert pin_disagreements(tmp_path) == [
        "requirements.txt pins tabulate==0.9.0, not in pyproject.toml ([project] dependencies)"
    ]


def test_a_long_module_needs_a_reason_at_its_top(tmp_path: Path) -> None:
    package = tmp_path / "stresslab"
    package.mkdir()
    (tmp_path / "reference_service").mkdir()
    body = "VALUE = 1\n" * MAX_MODULE_LINES
    (package / "short.py").write_text('"""Short."""\n' + "VALUE = 1\n" * 499)
    (package / "long.py").write_text('"""Long."""\n' + body)
    (package / "explained.py").write_text(
        '"""Ledger.\n\nLonger than 500 lines because one table is one unit.\n"""\n' + body
    )
    (package / "commented.py").write_text(
        "# Longer than 500 lines because the grammar is one unit.\n" + body
    )
    (package / "said_late.py").write_text(
        '"""Late."""\n' + body + "# Longer than 500 lines because it says so too late.\n"
    )

    assert long_modules_without_a_reason(tmp_path) == [
        "stresslab/long.py: 501 lines",
        "stresslab/said_late.py: 502 lines",
    ]


def test_no_module_is_over_500_lines_without_a_reason() -> None:
    assert long_modules_without_a_reason(ROOT) == []


def test_the_wheel_carries_the_files_the_packages_read(tmp_path: Path) -> None:
    # Given the packages as they are, copied so the build writes nothing into the tree
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(ROOT / "pyproject.toml", source)
    ignored = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, source / package, ignore=ignored)
    data = sorted(
        path.relative_to(source).as_posix()
        for package in PACKAGES
        for path in (source / package).rglob("*")
        if path.is_file() and path.suffix != ".py"
    )

    # When pip builds the wheel `pip install .` would install
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(tmp_path / "wheel"), str(source)],
        check=True, capture_output=True, timeout=120,
    )

    # Then every template and static file is in it, next to its module
    (wheel,) = (tmp_path / "wheel").glob("stresslab-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert [name for name in data if name not in names] == []
    assert "stresslab/cli.py" in names and "reference_service/__main__.py" in names


ARCHITECTURE = ROOT / "docs" / "architecture.md"
# A backticked repository path: a file with an extension, or a folder ending in '/'.
_PATH = re.compile(r"^[\w.-]+(/[\w.*-]+)*(\.\w+|/)$")


def _step_rows(markdown: str) -> list[tuple[list[str], list[str]]]:
    """The files and the functions of each step row (| # | where | file | function |)."""
    rows = []
    for line in markdown.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].isdigit():
            files = [ticked for ticked in re.findall(r"`([^`]+)`", cells[2]) if _PATH.match(ticked)]
            rows.append((files, re.findall(r"`([^`]+)`", cells[3])))
    return rows


def architecture_doc_mistakes(root: Path) -> list[str]:
    """Paths docs/architecture.md names that do not exist, and step functions not in the step's
    files (a name counts when it, or its last dotted part, is in one of them)."""
    markdown = (root / "docs" / "architecture.md").read_text(encoding="utf-8")
    mistakes = [
        f"no such path: {ticked}"
        for ticked in re.findall(r"`([^`\s]+)`", markdown)
        if "/" in ticked and _PATH.match(ticked) and not list(root.glob(ticked.rstrip("/")))
    ]
    for files, functions in _step_rows(markdown):
        texts = [path.read_text(encoding="utf-8") for name in files
                 for path in sorted(root.glob(name)) if path.is_file()]
        for function in functions:
            name = function.removeprefix("state ").split(".")[-1].strip("()")
            if not any(name in text for text in texts):
                mistakes.append(f"{function} is in none of {', '.join(files)}")
    return mistakes


def test_the_architecture_doc_names_files_and_functions_that_exist() -> None:
    assert architecture_doc_mistakes(ROOT) == []


def test_a_renamed_step_is_caught(tmp_path: Path) -> None:
    # Given a doc whose step names a function its file does not hold, and a path that is gone
    (tmp_path / "docs").mkdir()
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "worker.py").write_text("def close_window():\n    pass\n")
    (tmp_path / "docs" / "architecture.md").write_text(
        "See `pkg/gone.py`.\n\n| # | where | file | function |\n|---|---|---|---|\n"
        "| 1 | a window closes | `pkg/worker.py` | `Worker.close_window` → `emit` |\n"
    )

    assert architecture_doc_mistakes(tmp_path) == [
        "no such path: pkg/gone.py",
        "emit is in none of pkg/worker.py",
    ]


def test_the_readme_layout_lists_what_is_in_the_tree() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme.split("## Layout", 1)[1].split("```")[1]
    named = []
    parent = ""
    for line in layout.strip().splitlines():
        entry = line.strip().split("  ")[0]
        for name in re.split(r",\s*", entry):
            path = f"{parent}{name}" if line.startswith(" ") else name
            named.append(path)
        if not line.startswith(" ") and entry.endswith("/"):
            parent = entry
    assert "stresslab/ports.py" in named and "tests/" in named
    missing = [name for name in named if not list(ROOT.glob(name.rstrip("/")))]
    assert missing == []
    # and every package of the core is listed
    packages = {p.name for p in (ROOT / "stresslab").iterdir() if (p / "__init__.py").is_file()}
    assert {name.split("/")[1] for name in named if name.count("/") == 2} >= packages
