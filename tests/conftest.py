"""Shared fixtures: small exports built in code, so each test shows its input."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

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
