"""The columnar path (a plain long-table conversion: typed profiles mapped straight to
columns) writes the same files as the record path, in one process and with --jobs.

The record path is forced with ``dedupe=True`` on data without duplicate events, which
then changes nothing else.
"""

from __future__ import annotations

import json

import pytest

import apsis_export
from apsis_export import _parallel
from apsis_export._engines import _decode, _members, _units

from .conftest import SAMPLE_DATA
from .test_jobs import files

# Profiles of the common shape (typed), and others that take the record path inside a
# columnar run: an attribute with a key besides "value", an event with a numeric typeId,
# an unknown profile key; and a document-level key.
MIXED = {
    "metadata": {"exported": "2024-05-01"},
    "profiles": {
        "p1": {
            "sections": {
                "s1": {
                    "attributes": {"a": {"value": "x"}, "b": {"value": 1.50}, "t": {"value": None}},
                    "events": [
                        {
                            "typeId": "e",
                            "correlationId": "c1",
                            "sourceEventTime": 0,
                            "createdAt": 1714564800000,
                            "data": {"k": [1, 2]},
                        }
                    ],
                }
            }
        },
        "p2": {
            "sections": {
                "s1": {
                    "attributes": {"a": {"value": True, "history": []}},
                    "events": [{"typeId": 7, "sourceEventTime": 5, "createdAt": 6}],
                }
            }
        },
        "p3": {"sections": {"s2": {"attributes": {"c": {"value": [1, {"d": None}]}}}}, "score": 3},
        "p4": {
            "sections": {
                "s1": {"attributes": {}, "events": []},
                "s2": {"attributes": {"e": {"value": "é\u2028"}}},
            }
        },
    },
}


@pytest.fixture(autouse=True)
def small_units(monkeypatch):
    """Small units and no inline start, so that small inputs go through the --jobs pool."""
    monkeypatch.setattr(_units, "UNIT_BYTES", 2000)
    monkeypatch.setattr(_members, "BLOCK_SIZE", 8192)
    monkeypatch.setattr(_parallel, "INLINE_UNITS", 1)


@pytest.fixture
def record_mappings(monkeypatch) -> list[str]:
    """Keys of the typed profiles mapped to records (forked workers count in their own copy)."""
    keys: list[str] = []
    mapping = _decode.typed_profile_records

    def counted(key, value, layout):
        keys.append(key)
        return mapping(key, value, layout)

    monkeypatch.setattr(_decode, "typed_profile_records", counted)
    return keys


def sources(tmp_path):
    mixed = tmp_path / "mixed.json"
    mixed.write_text(json.dumps(MIXED, ensure_ascii=False))
    apsis_export.generate(tmp_path / "bare.json", size=100_000, seed=5, layout="bare")
    return [SAMPLE_DATA / "small.json.gz", mixed, tmp_path / "bare.json"]


@pytest.mark.parametrize("jobs", [1, pytest.param(2, marks=pytest.mark.slow)])
@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_same_files_as_record_path(tmp_path, fmt, jobs, record_mappings):
    for n, source in enumerate(sources(tmp_path)):
        tables = ["attributes", "events", "extras"]
        record_mappings.clear()
        columnar = apsis_export.convert(
            source, tmp_path / f"columnar{n}", format=fmt, tables=tables, jobs=jobs
        )
        if jobs == 1:
            assert not record_mappings, "the columnar run mapped typed profiles to records"
        records = apsis_export.convert(
            source, tmp_path / f"records{n}", format=fmt, tables=tables, jobs=jobs, dedupe=True
        )
        if jobs == 1:
            assert record_mappings, "the record run did not map typed profiles to records"
        assert records.duplicate_events == 0
        assert files(tmp_path / f"columnar{n}") == files(tmp_path / f"records{n}")
        for field in ("profiles", "rows", "extras", "bytes_json"):
            assert getattr(columnar, field) == getattr(records, field), field


@pytest.mark.parametrize("tables", [["attributes"], ["events"], None])
def test_one_table_or_the_defaults(tmp_path, tables):
    source = SAMPLE_DATA / "small.json.gz"
    apsis_export.convert(source, tmp_path / "columnar", format="jsonl", tables=tables)
    apsis_export.convert(source, tmp_path / "records", format="jsonl", tables=tables, dedupe=True)
    assert files(tmp_path / "columnar") == files(tmp_path / "records")


def test_typed_records_come_from_the_columns():
    """read_profile without ``into`` gives the records of the same mapping."""
    text = json.dumps(MIXED["profiles"]["p1"]).encode()
    profile = _decode.read_profile(b'"p1":' + text, "wrapped")
    into = _decode.ColumnsInto([[] for _ in range(5)], [[] for _ in range(7)])
    bare = _decode.read_profile(b'"p1":' + text, "wrapped", into=into)
    assert (bare.key, bare.section_ids, bare.attributes, bare.events) == ("p1", ["s1"], [], [])
    assert [list(row) for row in zip(*into.attributes, strict=True)] == [
        [a.profile_key, a.section_id, a.attribute_id, a.value, a.value_type] for a in profile.attributes
    ]
    assert [list(row) for row in zip(*into.events, strict=True)] == [
        [e.profile_key, e.section_id, e.correlation_id, e.type_id, e.source_event_time, e.created_at, e.data]
        for e in profile.events
    ]
