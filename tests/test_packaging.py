"""The package as users get it: its metadata, and (where CI built them) the sdist and wheel.

.ci/run builds both with ``python -m build``, sets APSIS_EXPORT_DIST to their folder, and
also installs the wheel alone in a fresh venv and converts the sample with it.
"""

from __future__ import annotations

import os
import re
import tarfile
import zipfile
from importlib.metadata import metadata
from pathlib import Path

import pytest

import apsis_export

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "src" / "apsis_export"


def ci_pythons() -> list[str]:
    """The minor versions .ci/run tests (its PYTHONS line)."""
    found = re.search(r'^PYTHONS="([0-9. ]+)"', (REPO / ".ci" / "run").read_text(), re.MULTILINE)
    assert found, '.ci/run names the Pythons it tests in a PYTHONS="..." line'
    return found.group(1).split()


def test_metadata_names_the_tested_pythons_and_the_licence():
    meta = metadata("apsis-export")
    versions = [
        c.rsplit(" :: ", 1)[1]
        for c in meta.get_all("Classifier")
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    ]
    assert versions == ci_pythons()  # every version requires-python admits is tested, and no other
    assert meta["Requires-Python"] == f">={versions[0]}"
    assert meta["License-Expression"] == "MIT" and meta.get_all("License-File") == ["LICENSE"]
    assert (REPO / "LICENSE").read_text().startswith("MIT License")
    set_up = (REPO / "README.md").read_text().split("## Set-up", 1)[1].split("\n## ", 1)[0]
    assert all(version in set_up for version in versions), "README's set-up says which Pythons are tested"


def package_files() -> set[str]:
    """What the wheel must hold of the source tree: every module, and py.typed."""
    return {
        p.relative_to(PACKAGE.parent).as_posix()
        for p in PACKAGE.rglob("*")
        if p.suffix == ".py" or p.name == "py.typed"
    }


@pytest.fixture(scope="module")
def dist() -> Path:
    folder = os.environ.get("APSIS_EXPORT_DIST")
    if not folder:
        pytest.skip("no built sdist and wheel: APSIS_EXPORT_DIST=DIR (.ci/run sets it after python -m build)")
    return Path(folder)


def test_the_wheel_holds_the_package_and_the_compiled_module(dist):
    (wheel,) = dist.glob(f"apsis_export-{apsis_export.__version__}-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert package_files() <= names
    assert any(re.fullmatch(r"apsis_export/_native\..*\.so", n) for n in names), (
        "the C extension was not built"
    )
    assert not any(n.endswith(".c") for n in names)
    info = f"apsis_export-{apsis_export.__version__}.dist-info"
    assert {f"{info}/licenses/LICENSE", f"{info}/METADATA", f"{info}/entry_points.txt"} <= names


def test_the_sdist_holds_what_building_and_testing_need(dist):
    (sdist,) = dist.glob(f"apsis_export-{apsis_export.__version__}.tar.gz")
    root = f"apsis_export-{apsis_export.__version__}"
    names = {n.split("/", 1)[1] for n in tarfile.open(sdist).getnames() if "/" in n}
    needed = {
        "pyproject.toml",
        "setup.py",
        "README.md",
        "CONTRIBUTING.md",
        "LICENSE",
        "src/apsis_export/_native.c",
        *(p.relative_to(REPO).as_posix() for p in (REPO / "docs").glob("*.md")),  # test_docs_examples
        *(f"src/{name}" for name in package_files()),
        *(
            p.relative_to(REPO).as_posix()
            for folder in ["tests", "sample_data"]
            for p in (REPO / folder).iterdir()
            if p.is_file() and p.suffix in {".py", ".json", ".gz"}
        ),
    }
    assert needed <= names, f"missing from {root}.tar.gz: {sorted(needed - names)}"
