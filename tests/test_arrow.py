"""The Arrow stream API: to_arrow and batches, read by pyarrow, DuckDB, Polars and pandas.

The reference is always the Parquet file that convert writes with the same options:
a stream holds the same rows with the same Arrow types.
"""

from __future__ import annotations

import io
from collections import defaultdict

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import apsis_export
from apsis_export import InputError, OptionsError, batches, convert, generate, generated_metadata, to_arrow

from .conftest import SAMPLE_DATA

duckdb = pytest.importorskip("duckdb")
SMALL = SAMPLE_DATA / "small.json.gz"


class CountingFile(io.RawIOBase):
    """A binary file object that counts the bytes read through it (a non-path source)."""

    def __init__(self, path):
        self._file = open(path, "rb")
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self._file.readinto(buffer)
        self.bytes_read += n
        return n

    def close(self) -> None:
        self._file.close()
        super().close()


def parquet_of(tmp_path, source, table, **options) -> pa.Table:
    out = tmp_path / "parquet"
    convert(source, out, tables=[table.split("_")[0] if options.get("split_events") else table], **options)
    return pq.read_table(out / f"{table}.parquet")


@pytest.mark.parametrize(
    ("table", "options"),
    [
        ("attributes", {}),
        ("attributes", {"engine": "exact"}),
        ("events", {}),
        ("events", {"dedupe": True}),
        ("extras", {}),
        ("profiles", {"layout": "wide"}),
        ("attributes", {"names": generated_metadata()}),
    ],
)
def test_stream_equals_the_parquet_file(tmp_path, table, options):
    stream = to_arrow(SMALL, table, **options)
    streamed = stream.to_reader().read_all()
    written = parquet_of(tmp_path, SMALL, table, **options)
    assert streamed.num_rows == written.num_rows > 0
    assert stream.schema == written.schema == streamed.schema
    assert streamed.equals(written)


def test_split_event_table_equals_its_parquet_file(tmp_path):
    out = tmp_path / "split"
    summary = convert(SMALL, out, tables=["events"], split_events=True)
    name = next(t for t, rows in summary.rows.items() if rows > 0)
    streamed = to_arrow(SMALL, name, split_events=True).to_reader().read_all()
    assert streamed.equals(pq.read_table(out / f"{name}.parquet"))


def test_unknown_split_table_is_a_clear_error():
    with pytest.raises(OptionsError, match="no table 'events_nope'"):
        to_arrow(SMALL, "events_nope", split_events=True)


def test_wide_table_is_the_default_of_the_wide_layout():
    assert to_arrow(SMALL, layout="wide").table == "profiles"


def test_pyarrow_reads_it_from_the_capsule_stream(tmp_path):
    reader = pa.RecordBatchReader.from_stream(to_arrow(SMALL))
    assert reader.read_all().equals(parquet_of(tmp_path, SMALL, "attributes"))


def test_duckdb_queries_it_like_the_parquet_file(tmp_path):
    t = to_arrow(SMALL, "events")  # noqa: F841 (DuckDB's replacement scan finds it by name)
    parquet_of(tmp_path, SMALL, "events")
    query = "select count(*), count(distinct profile_key), min(created_at), max(created_at) from {}"
    streamed = duckdb.sql(query.format("t")).fetchall()
    written = duckdb.sql(query.format(f"'{tmp_path / 'parquet' / 'events.parquet'}'")).fetchall()
    assert streamed == written and streamed[0][0] > 0


def test_a_path_stream_is_read_afresh_by_each_query():
    t = to_arrow(SMALL)  # noqa: F841 (DuckDB's replacement scan finds it by name)
    first = duckdb.sql("select count(*) from t").fetchall()
    assert duckdb.sql("select count(*) from t").fetchall() == first
    assert first[0][0] > 0


def test_a_file_object_streams_once_and_says_so():
    stream = to_arrow(io.BytesIO(SMALL.read_bytes()))
    assert stream.to_reader().read_all().num_rows > 0
    with pytest.raises(OptionsError, match="can be read once"):
        stream.to_reader().read_all()


def test_schema_is_known_without_reading_rows():
    source = CountingFile(SMALL)
    stream = to_arrow(source, "events")
    assert pa.schema(stream) == stream.schema  # through __arrow_c_schema__
    assert stream.schema.field("created_at").type == pa.timestamp("ms", tz="UTC")
    assert source.bytes_read == 0


def test_limit_stops_the_parsing_early(tmp_path):
    path = tmp_path / "g.json"
    generate(path, size=20_000_000, seed=1)
    source = CountingFile(path)
    t = to_arrow(source)  # noqa: F841 (DuckDB's replacement scan finds it by name)
    rows = duckdb.sql("select * from t limit 5").fetchall()
    assert len(rows) == 5
    assert 0 < source.bytes_read < path.stat().st_size / 2  # measured: 5.2 of 20 MB


def test_bad_input_fails_the_query_with_the_offset(write_export):
    truncated = SMALL.with_suffix("").read_bytes()[:5000]
    t = to_arrow(io.BytesIO(truncated))
    with pytest.raises(InputError, match="near byte 5,000"):
        t.to_reader().read_all()
    t = to_arrow(write_export(truncated))
    with pytest.raises(duckdb.Error, match="near byte 5,000"):
        duckdb.sql("select count(*) from t").fetchall()


def test_polars_scans_its_capsule_stream(tmp_path):
    pl = pytest.importorskip("polars")
    assert hasattr(pl, "scan_arrow_c_stream"), "this Polars has no scan_arrow_c_stream"
    written = pl.from_arrow(parquet_of(tmp_path, SMALL, "events"))
    counts = (
        pl.scan_arrow_c_stream(to_arrow(SMALL, "events")).group_by("type_id").agg(pl.len()).sort("type_id")
    )
    assert counts.collect().equals(written.group_by("type_id").agg(pl.len()).sort("type_id"))


def test_pandas_builds_a_frame_from_it(tmp_path):
    pd = pytest.importorskip("pandas")
    stream = to_arrow(SMALL)
    if hasattr(pd.DataFrame, "from_arrow"):  # pandas 3
        frame = pd.DataFrame.from_arrow(stream)
    else:  # pandas 2 (Python 3.10): through pyarrow
        frame = pa.RecordBatchReader.from_stream(stream).read_all().to_pandas()
    assert frame.equals(parquet_of(tmp_path, SMALL, "attributes").to_pandas())


def test_batches_give_every_table_in_one_pass(tmp_path):
    source = CountingFile(SMALL)
    by_table = defaultdict(list)
    for table, batch in batches(source):
        by_table[table].append(batch)
    out = tmp_path / "all"
    summary = convert(SMALL, out)
    assert sorted(by_table) == sorted(summary.outputs) == ["attributes", "events", "extras"]
    for table, chunks in by_table.items():
        assert pa.Table.from_batches(chunks).equals(pq.read_table(out / f"{table}.parquet"))


def test_batches_follow_the_tables_asked_for():
    assert {table for table, _ in batches(SMALL, tables=["events"])} == {"events"}


def test_public_api_names_them():
    assert {"to_arrow", "batches", "ArrowStream"} <= set(apsis_export.__all__)


def test_polars_lazy_frame_reruns_and_projects(tmp_path):
    pl = pytest.importorskip("polars")
    written = pl.from_arrow(parquet_of(tmp_path, SMALL, "events"))
    lazy = to_arrow(SMALL, "events").to_polars()
    assert lazy.collect().equals(written)
    query = lazy.filter(pl.col("type_id") != "4381").group_by("type_id").agg(pl.len()).sort("type_id")
    expected = written.filter(pl.col("type_id") != "4381").group_by("type_id").agg(pl.len()).sort("type_id")
    assert query.collect().equals(expected) and len(expected) > 0
    assert query.collect().equals(expected)  # a second collect reads a second pass
    assert lazy.select("profile_key").head(3).collect().equals(written.select("profile_key").head(3))


def test_to_polars_stops_parsing_after_head(tmp_path):
    pytest.importorskip("polars")
    path = tmp_path / "g.json"
    generate(path, size=20_000_000, seed=1)
    source = CountingFile(path)
    assert len(to_arrow(source).to_polars().head(5).collect()) == 5
    assert 0 < source.bytes_read < path.stat().st_size / 2
