"""Shared fixtures: small exports built in code, so each test shows its input."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

#: The test modules marked ``core``: what CI runs on every other Python that requires-python
#: admits and at the dependency floors (.ci/run; the full suite runs on the main Python).
#: Conversion, engines, sinks, CLI and the differential tests, fetch (urllib3's floor) too;
#: not test_memory and test_cost (peak RSS and CPU ratios, the same on every Python), nor
#: test_inspect_html (Debian's Chromium, installed for the main run). A new module joins by name here.
CORE_MODULES = {
    "test_bad_input",
    "test_cli",
    "test_columnar",
    "test_compat",
    "test_differential",
    "test_engine",
    "test_fetch",
    "test_generate",
    "test_inspect",
    "test_jobs",
    "test_json_columns",
    "test_metadata",
    "test_native",
    "test_os_errors",
    "test_packaging",
    "test_scan",
    "test_sinks",
    "test_typed_path",
    "test_types",
    "test_wide",
}

#: The test modules marked ``slow`` whole (other modules mark their slow tests one by one): a local
#: Spark, dlt pipelines, Chromium, and the memory and cost ratios. ``-m "not slow"``, the quick run
#: of a developer, leaves them out without importing them; CI runs every test.
SLOW_MODULES = {"test_spark", "test_dlt", "test_inspect_html", "test_memory", "test_cost"}

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"
# nst/JSONTestSuite test_parsing/ (MIT, LICENSE beside it), vendored so every clone runs it.
JSON_TEST_SUITE = Path(__file__).resolve().parent / "data" / "JSONTestSuite" / "test_parsing"


def wrapped(profiles: dict, **top) -> dict:
    """A wrapped-layout document: {"profiles": {KEY: {"sections": ...}}, ...top}."""
    return {"profiles": {key: {"sections": sections} for key, sections in profiles.items()}, **top}


@pytest.fixture
def write_export(tmp_path):
    """Write a document (dict, str or bytes) to a file, optionally gzip; return its path."""
    counter = iter(range(10**6))

    def write(doc, *, gz: bool = False, name: str | None = None) -> Path:
        data = doc if isinstance(doc, bytes) else (doc if isinstance(doc, str) else json.dumps(doc)).encode()
        path = tmp_path / (name or f"export{next(counter)}.json{'.gz' if gz else ''}")
        path.write_bytes(gzip.compress(data) if gz else data)
        return path

    return write


def pytest_collection_modifyitems(items):
    for item in items:
        if item.path.stem in CORE_MODULES:
            item.add_marker(pytest.mark.core)
        if item.path.stem in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


def pytest_ignore_collect(collection_path, config):
    """With ``-m core`` the other modules are not even imported: they need the integrations'
    packages (DuckDB, Spark, dlt...), which the core runs on other Pythons do not install.
    With ``-m "not slow"`` neither are SLOW_MODULES (importing Spark and dlt alone takes seconds)."""
    markexpr = config.getoption("markexpr")
    if markexpr in ("core", "not slow") and collection_path.suffix == ".py":
        name = collection_path.stem
        if name.startswith("test_") and (
            name not in CORE_MODULES if markexpr == "core" else name in SLOW_MODULES
        ):
            return True
    return None
