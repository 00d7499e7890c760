"""The Parquet files as other readers see them: DuckDB and Polars read back what pyarrow reads,
and the writer's settings (sinks/_parquet.py: writer_options) are those chosen: zstd, statistics
on profile_key and the columns that are not text (what readers skip row groups by), none on the
other text columns, no dictionary for the event ids."""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import apsis_export
from apsis_export.sinks import _parquet
from apsis_export.sinks._parquet import NO_DICTIONARY, TEXT_STATISTICS

from .conftest import SAMPLE_DATA

TABLES = ("attributes", "events", "extras")


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    out = tmp_path_factory.mktemp("parquet")
    apsis_export.convert(SAMPLE_DATA / "small.json", out, format="parquet")
    return out


def _utc(row: dict) -> dict:
    """Timestamps as aware UTC datetimes, however the reader hands them over."""
    return {
        k: v.replace(tzinfo=dt.timezone.utc) if isinstance(v, dt.datetime) and v.tzinfo is None else v
        for k, v in row.items()
    }


@pytest.mark.parametrize("table", TABLES)
def test_duckdb_and_polars_read_what_pyarrow_reads(converted, table):
    path = converted / f"{table}.parquet"
    expected = pq.read_table(path).to_pylist()
    assert expected, table
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        result = con.execute(f"SELECT * FROM '{path}'")
        names = [d[0] for d in result.description]
        by_duckdb = [_utc(dict(zip(names, row, strict=True))) for row in result.fetchall()]
    assert by_duckdb == [_utc(row) for row in expected]
    assert [_utc(row) for row in pl.read_parquet(path).to_dicts()] == [_utc(row) for row in expected]


@pytest.mark.parametrize("table", TABLES)
def test_statistics_and_dictionaries_where_chosen(converted, table):
    path = converted / f"{table}.parquet"
    schema = pq.read_schema(path)
    meta = pq.ParquetFile(path).metadata
    with_statistics = set()
    for group in range(meta.num_row_groups):
        for i in range(meta.num_columns):
            column = meta.row_group(group).column(i)
            name = column.path_in_schema
            assert column.compression == "ZSTD"
            assert ("RLE_DICTIONARY" in column.encodings) == (name not in NO_DICTIONARY), name
            if column.is_stats_set:
                with_statistics.add(name)
    expected = {f.name for f in schema if f.name in TEXT_STATISTICS or f.type != pa.string()}
    assert with_statistics == expected
    assert "profile_key" in expected and (
        table != "events" or {"created_at", "source_event_time"} <= expected
    )


def test_a_filter_on_profile_key_skips_row_groups(tmp_path, monkeypatch):
    """Statistics on the keys are there to be used: a reader filtering by profile_key skips the
    row groups whose min/max leave it out (rows come in the export's order of profiles)."""
    monkeypatch.setattr(_parquet, "ROW_GROUP_ROWS", 200)
    apsis_export.convert(SAMPLE_DATA / "small.json", tmp_path, format="parquet", tables=["attributes"])
    path = tmp_path / "attributes.parquet"
    fragment = next(ds.dataset(path, format="parquet").get_fragments())
    key = pq.read_table(path, columns=["profile_key"])["profile_key"][0].as_py()
    kept = fragment.split_by_row_group(pc.field("profile_key") == key)
    assert fragment.metadata.num_row_groups > 3
    assert 1 <= len(kept) < fragment.metadata.num_row_groups / 2
    rows = pq.read_table(path, filters=[("profile_key", "=", key)]).to_pylist()
    assert rows and rows == [r for r in pq.read_table(path).to_pylist() if r["profile_key"] == key]
