"""--jobs: worker processes give the same files as one process (byte for byte, but for
Parquet's page layout, which follows how records were batched: there the contents).

Units and the inline start are shrunk so that small inputs go through the pool
(workers are forked here, as the command line does, so they see the same settings;
tests/test_global_state.py runs the library's own start, a fork server).
"""

from __future__ import annotations

import json

import pytest

import apsis_export
from apsis_export import InputError, _parallel
from apsis_export._engines import _members, _units

from .conftest import SAMPLE_DATA


@pytest.fixture(autouse=True)
def small_units(monkeypatch):
    monkeypatch.setattr(_units, "UNIT_BYTES", 2000)
    monkeypatch.setattr(_members, "BLOCK_SIZE", 8192)
    monkeypatch.setattr(_parallel, "INLINE_UNITS", 1)
    monkeypatch.setattr(_parallel, "start_method", "fork")


def files(path):
    """Each file's bytes; for Parquet, its row group sizes and rows."""
    import pyarrow.parquet as pq

    def content(p):
        if p.suffix != ".parquet":
            return p.read_bytes()
        meta = pq.ParquetFile(p).metadata
        return [meta.row_group(i).num_rows for i in range(meta.num_row_groups)], pq.read_table(p).to_pylist()

    return {p.name: content(p) for p in sorted(path.iterdir())}


def convert_both(tmp_path, source, **kw):
    one = apsis_export.convert(source, tmp_path / "one", jobs=1, **kw)
    two = apsis_export.convert(source, tmp_path / "two", jobs=2, **kw)
    assert files(tmp_path / "two") == files(tmp_path / "one")
    for field in (
        "profiles",
        "rows",
        "extras",
        "duplicate_events",
        "unknown_ids",
        "type_mismatches",
        "bytes_json",
    ):
        assert getattr(two, field) == getattr(one, field), field
    return two


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_same_files_as_one_process(tmp_path, fmt):
    summary = convert_both(
        tmp_path, SAMPLE_DATA / "small.json.gz", format=fmt, tables=["attributes", "events", "extras"]
    )
    assert summary.rows["attributes"] > 1000


def test_bare_layout_dedupe_and_names(tmp_path):
    from .test_metadata import sample_metadata

    stats = apsis_export.generate(tmp_path / "bare.json", size=200_000, seed=3, layout="bare")
    convert_both(tmp_path / "a", stats.path, format="jsonl", dedupe=True)
    convert_both(tmp_path / "b", SAMPLE_DATA / "tiny.json", format="jsonl", names=sample_metadata())


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_wide_layout_and_split_events(tmp_path, fmt):
    from apsis_export._generate import generated_metadata

    stats = apsis_export.generate(tmp_path / "g.json", size=300_000, seed=4)
    summary = convert_both(tmp_path / "a", stats.path, format=fmt, layout="wide", split_events=True)
    assert summary.rows["profiles"] == stats.sections
    named = convert_both(tmp_path / "b", stats.path, format=fmt, layout="wide", names=generated_metadata())
    assert named.type_mismatches > 0  # numbers beyond int64, counted in the workers too


def big_export(bad_profile: int | None = None, bad: str = "") -> bytes:
    profiles = {
        f"p{i}": {"sections": {"s": {"attributes": {"a": {"value": "x" * 200}, "b": {"value": i}}}}}
        for i in range(300)
    }
    text = json.dumps({"profiles": profiles, "metadata": {"n": 300}})
    if bad_profile is not None:
        marker = f'"p{bad_profile}": {{"sections": {{"s": {{"attributes": {{"a": {{"value": "'
        text = text.replace(marker, marker + bad, 1)
    return text.encode()


def test_a_member_only_the_exact_engine_reads_is_handed_over(tmp_path):
    data = big_export(150, "\\ud800")  # a lone surrogate escape: msgspec refuses, the exact engine reads it
    path = tmp_path / "export.json"
    path.write_bytes(data)
    summary = convert_both(tmp_path, path, format="jsonl")
    assert summary.profiles == 300
    exact = apsis_export.convert(path, tmp_path / "exact", engine="exact", format="jsonl")
    assert files(tmp_path / "exact") == files(tmp_path / "two") and exact.rows == summary.rows


@pytest.mark.parametrize("problem, bad", [("invalid JSON", "\x01"), ("must be a JSON object", None)])
def test_errors_are_the_same_as_one_process(tmp_path, problem, bad):
    data = (
        big_export(200, bad)
        if bad
        else big_export().replace(b'"p200": {"sections": {"s": {', b'"p200": {"sections": {"s": 5, "t": {', 1)
    )
    path = tmp_path / "export.json"
    path.write_bytes(data)
    errors = []
    for jobs in (1, 2):
        with pytest.raises(InputError) as info:
            apsis_export.convert(path, tmp_path / f"out{jobs}", jobs=jobs)
        errors.append((info.value.problem, info.value.offset, info.value.profile_key))
        assert list((tmp_path / f"out{jobs}").iterdir()) == []
    assert errors[0] == errors[1] and problem in errors[0][0] and errors[0][2] == "p200"


def test_truncation_after_many_units(tmp_path):
    data = big_export()
    path = tmp_path / "cut.json"
    path.write_bytes(data[: len(data) * 2 // 3])
    errors = []
    for jobs in (1, 2):
        with pytest.raises(InputError) as info:
            apsis_export.convert(path, tmp_path / f"out{jobs}", jobs=jobs)
        errors.append(str(info.value))
    assert errors[0] == errors[1] and "ends early" in errors[0]
