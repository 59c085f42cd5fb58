"""Where the project's data lives: scenarios/, config/ and the built dashboards.

A checkout keeps them beside the stresslab package, and so does the Lambda asset (it stages the
same folders next to it). A wheel installs them as data files under <prefix>/share/stresslab,
where <prefix> is the install scheme's data path of the site-packages stresslab was imported from.
"""

from __future__ import annotations

import sysconfig
from pathlib import Path

PACKAGES_DIR = Path(__file__).resolve().parents[1]
INSTALLED_SUBDIR = Path("share") / "stresslab"
# A folder holds the project's data when it has these.
MARKERS = (Path("scenarios") / "smoke.yaml", Path("config") / "pricing.yaml")


def holds_project_data(folder: Path) -> bool:
    return all((folder / marker).is_file() for marker in MARKERS)


def installed_data_dirs(packages_dir: Path) -> list[Path]:
    """Where an installer put the data files for packages installed into `packages_dir`."""
    found: list[Path] = []
    for scheme in sysconfig.get_scheme_names():
        try:
            paths = sysconfig.get_paths(scheme)
        except KeyError:
            continue
        libraries = {Path(paths["purelib"]).resolve(), Path(paths["platlib"]).resolve()}
        data_dir = Path(paths["data"]) / INSTALLED_SUBDIR
        if packages_dir in libraries and data_dir not in found:
            found.append(data_dir)
    return found


def locate_project_data(packages_dir: Path = PACKAGES_DIR) -> Path:
    """The checkout (or staged asset) when running from one, else the installed copy.

    When neither holds the data, the installed location is returned anyway, so that a missing
    file is reported where the install should have put it."""
    if holds_project_data(packages_dir):
        return packages_dir
    candidates = installed_data_dirs(packages_dir)
    for candidate in candidates:
        if holds_project_data(candidate):
            return candidate
    return candidates[0] if candidates else packages_dir


PROJECT_DATA_DIR = locate_project_data()
SCENARIOS_DIR = PROJECT_DATA_DIR / "scenarios"
PRESENTATION_DIR = SCENARIOS_DIR / "presentation"
CONFIG_DIR = PROJECT_DATA_DIR / "config"
PRICING_FILE = CONFIG_DIR / "pricing.yaml"
BENCHMARKS_FILE = CONFIG_DIR / "benchmarks.yaml"
DASHBOARD_SITE_DIR = PROJECT_DATA_DIR / "dashboard_site" / "dist"
