"""The project's data is found in the checkout when running from one, else where a wheel put it."""

from __future__ import annotations

import sysconfig
from pathlib import Path

from stresslab import project_data
from stresslab.project_data import holds_project_data, locate_project_data

ROOT = Path(__file__).resolve().parents[2]


def data_in(folder: Path) -> Path:
    for marker in project_data.MARKERS:
        (folder / marker).parent.mkdir(parents=True, exist_ok=True)
        (folder / marker).write_text("x")
    return folder


def test_the_checkout_holds_the_data_and_is_found_first():
    assert holds_project_data(ROOT)
    assert project_data.PROJECT_DATA_DIR == ROOT
    assert project_data.PRICING_FILE.is_file()
    assert (project_data.SCENARIOS_DIR / "smoke.yaml").is_file()


def test_a_folder_with_only_part_of_the_data_does_not_count(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "pricing.yaml").write_text("x")
    assert not holds_project_data(tmp_path)


def test_installed_packages_find_the_data_under_their_schemes_share_folder(tmp_path, monkeypatch):
    # Given packages installed into a prefix's site-packages, the data under <prefix>/share
    prefix = tmp_path / "prefix"
    packages = prefix / "lib" / "site-packages"
    packages.mkdir(parents=True)
    data_in(prefix / "share" / "stresslab")
    monkeypatch.setattr(sysconfig, "get_scheme_names", lambda: ("elsewhere", "here"))
    schemes = {"elsewhere": {"purelib": str(tmp_path / "other"), "platlib": str(tmp_path / "other"),
                             "data": str(tmp_path / "other")},
               "here": {"purelib": str(packages), "platlib": str(packages), "data": str(prefix)}}
    monkeypatch.setattr(sysconfig, "get_paths", lambda scheme: schemes[scheme])
    # Then the installed copy is found
    assert locate_project_data(packages) == prefix / "share" / "stresslab"
    # And when the install lost it, the place it should be is named, never the site-packages
    (prefix / "share" / "stresslab" / "config" / "pricing.yaml").unlink()
    assert locate_project_data(packages) == prefix / "share" / "stresslab"
    # And a staged asset (the data beside the packages) wins
    data_in(packages)
    assert locate_project_data(packages) == packages
