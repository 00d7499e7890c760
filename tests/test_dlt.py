"""The dlt sources, loaded by real dlt pipelines into DuckDB and into files (dlt's filesystem
destination on a file:// bucket, Delta tables for the merged profiles), read back.

Day 1, then day 2 with a changed value and a new attribute, then a re-run that loads nothing.
apsis_api runs against the loopback fetch server (tests/fetch_server.py).
"""

from __future__ import annotations

import gzip
import json
import os
from collections import Counter
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from deltalake import DeltaTable

import apsis_export
from apsis_export import ExportRequest, HttpSettings, OptionsError, generate, to_arrow
from apsis_export.fetch import EXPORT_PATH

from .conftest import SAMPLE_DATA, wrapped
from .fetch_server import FakeApsis

if os.environ.get("CI"):  # CI installs every extra: a missing one fails, never skips
    import dlt
else:
    dlt = pytest.importorskip("dlt", reason="the dlt extra: pip install -e '.[dlt]'")

from apsis_export.dlt import apsis_api, apsis_source

FAST = HttpSettings(
    poll_interval=0.01,
    max_poll_interval=0.04,
    max_wait=5.0,
    retries=3,
    download_retries=2,
    connect_timeout=1.0,
    read_timeout=2.0,
)


def event(correlation_id: str, created_at: int) -> dict:
    return {"correlationId": correlation_id, "typeId": "4381", "createdAt": created_at, "data": {"n": 1}}


DAY_1 = wrapped(
    {
        "p1": {
            "s1": {
                "attributes": {"10": {"value": "red"}, "11": {"value": 3}},
                "events": [event("c1", 1700000000000)],
            }
        },
        "p2": {"s1": {"attributes": {"10": {"value": "blue"}}, "events": []}},
    }
)
DAY_2 = wrapped(
    {  # p1's colour changes, attribute 12 appears; p2 is not in this export
        "p1": {
            "s1": {
                "attributes": {"10": {"value": "green"}, "11": {"value": 3}, "12": {"value": "new"}},
                "events": [event("c2", 1700086400000)],
            }
        },
    }
)


@pytest.fixture
def folder(tmp_path):
    exports = tmp_path / "exports"
    exports.mkdir()
    return exports


def add_day(folder, name: str, doc: dict):
    path = folder / name
    path.write_text(json.dumps(doc))
    return path


def duckdb_pipeline(tmp_path, name: str = "apsis_duck"):
    return dlt.pipeline(
        name,
        destination=dlt.destinations.duckdb(str(tmp_path / f"{name}.duckdb")),
        dataset_name="apsis",
        pipelines_dir=str(tmp_path / "pipelines"),
    )


def files_pipeline(tmp_path, name: str = "apsis_files"):
    bucket = (tmp_path / "lake").as_uri()
    return dlt.pipeline(
        name,
        destination=dlt.destinations.filesystem(bucket),
        dataset_name="apsis",
        pipelines_dir=str(tmp_path / "pipelines"),
    )


def table(pipeline, name: str) -> pa.Table:
    """A loaded table read back from the destination: with DuckDB, or from the files (Delta
    tables with deltalake, Parquet files with pyarrow)."""
    if pipeline.destination.destination_type.endswith("duckdb"):
        with duckdb.connect(pipeline.destination.config_params["credentials"], read_only=True) as db:
            return pa.table(
                db.sql(f"select * from {pipeline.dataset_name}.{name}").arrow()
            )  # a reader in DuckDB 2
    folder = (
        Path(pipeline.destination.config_params["bucket_url"].removeprefix("file://"))
        / pipeline.dataset_name
        / name
    )
    if (folder / "_delta_log").is_dir():
        return DeltaTable(str(folder)).to_pyarrow_table()
    return ds.dataset(sorted(folder.glob("*.parquet")), format="parquet").to_table()


def loaded_rows(info) -> int:
    """Rows of the tables the run loaded (not dlt's own)."""
    return sum(
        n
        for t, n in info.pipeline.last_trace.last_normalize_info.row_counts.items()
        if not t.startswith("_dlt")
    )


def without_dlt_columns(loaded: pa.Table) -> pa.Table:
    return loaded.select([c for c in loaded.column_names if not c.startswith("_dlt")])


def same_rows(got: pa.Table, want: pa.Table) -> None:
    keys = [(c, "ascending") for c in want.column_names]
    got = got.select(want.column_names)
    assert got.num_rows == want.num_rows > 0
    assert got.cast(want.schema).sort_by(keys).equals(want.sort_by(keys))


def expected(files, table_name: str, **options) -> pa.Table:
    """to_arrow's rows of every file, with the export column (the file name)."""
    parts = []
    for path in files:
        rows = to_arrow(path, table_name, **options).to_reader().read_all()
        parts.append(rows.append_column("export", pa.array([path.name] * rows.num_rows, pa.string())))
    return pa.concat_tables(parts)


@pytest.mark.parametrize("make_pipeline", [duckdb_pipeline, files_pipeline], ids=["duckdb", "filesystem"])
def test_long_layout_appends_each_export_once(tmp_path, folder, make_pipeline):
    pipeline = make_pipeline(tmp_path)
    day_1 = add_day(folder, "2024-01-01.json", DAY_1)
    generated = folder / "2024-01-01-big.json.gz"
    generate(generated, size=200_000, seed=7, gzip=True)
    pattern = str(folder / "*.json*")
    pipeline.run(apsis_source(pattern))
    for name in ("attributes", "events"):
        same_rows(without_dlt_columns(table(pipeline, name)), expected([day_1, generated], name))

    assert loaded_rows(pipeline.run(apsis_source(pattern))) == 0  # nothing new
    day_2 = add_day(folder, "2024-01-02.json", DAY_2)
    assert loaded_rows(pipeline.run(apsis_source(pattern))) == sum(
        1 for r in apsis_export.read(day_2) if type(r).__name__ in ("Attribute", "Event")
    )
    for name in ("attributes", "events"):
        same_rows(without_dlt_columns(table(pipeline, name)), expected([day_1, generated, day_2], name))
    assert loaded_rows(pipeline.run(apsis_source(pattern))) == 0
    counts = Counter(table(pipeline, "attributes")["export"].to_pylist())
    assert counts["2024-01-02.json"] == 3 and counts["2024-01-01.json"] == 3


def profiles(pipeline) -> dict:
    rows = table(pipeline, "profiles").to_pylist()
    return {
        (r["profile_key"], r["section_id"]): {k: v for k, v in r.items() if not k.startswith("_dlt")}
        for r in rows
    }


@pytest.mark.parametrize(
    "make_pipeline", [duckdb_pipeline, files_pipeline], ids=["duckdb", "filesystem-delta"]
)
def test_wide_profiles_are_merged_day_by_day(tmp_path, folder, make_pipeline):
    pipeline = make_pipeline(tmp_path)

    def source():
        source = apsis_source(str(folder / "*.json"), layout="wide")
        source.profiles.apply_hints(table_format="delta")  # merges on the filesystem need a table format
        return source

    add_day(folder, "2024-01-01.json", DAY_1)
    pipeline.run(source())
    day_1 = profiles(pipeline)
    assert day_1[("p1", "s1")]["_10"] == "red" and day_1[("p2", "s1")]["_10"] == "blue"
    assert "_12" not in day_1[("p1", "s1")]

    add_day(folder, "2024-01-02.json", DAY_2)
    pipeline.run(source())
    day_2 = profiles(pipeline)
    assert len(day_2) == 2  # merged on (profile_key, section_id): p1 replaced, p2 kept
    assert day_2[("p1", "s1")] == {
        "profile_key": "p1",
        "section_id": "s1",
        "_10": "green",
        "_11": 3,
        "_12": "new",
        "export": "2024-01-02.json",
    }
    assert day_2[("p2", "s1")]["_10"] == "blue" and day_2[("p2", "s1")]["_12"] is None  # the new column, null
    assert day_2[("p2", "s1")]["export"] == "2024-01-01.json"
    events = table(pipeline, "events")
    assert sorted(events["correlation_id"].to_pylist()) == ["c1", "c2"]  # appended

    assert loaded_rows(pipeline.run(source())) == 0
    assert profiles(pipeline) == day_2


def test_two_days_in_one_run_the_later_export_wins(tmp_path, folder):
    add_day(folder, "2024-01-02.json", DAY_2)
    add_day(folder, "2024-01-01.json", DAY_1)
    pipeline = duckdb_pipeline(tmp_path)
    pipeline.run(apsis_source(str(folder / "*.json"), layout="wide"))
    merged = profiles(pipeline)
    assert merged[("p1", "s1")]["_10"] == "green" and merged[("p1", "s1")]["export"] == "2024-01-02.json"
    assert merged[("p2", "s1")]["_10"] == "blue"


def test_names_and_extras(tmp_path):
    pipeline = duckdb_pipeline(tmp_path)
    names = apsis_export.generated_metadata()
    small = SAMPLE_DATA / "small.json.gz"
    pipeline.run(apsis_source(small, names=names, tables=["attributes", "extras"]))
    same_rows(
        without_dlt_columns(table(pipeline, "attributes")), expected([small], "attributes", names=names)
    )
    same_rows(without_dlt_columns(table(pipeline, "extras")), expected([small], "extras"))


def test_a_changed_file_under_a_loaded_name_is_an_error(tmp_path, folder):
    pipeline = duckdb_pipeline(tmp_path)
    path = add_day(folder, "export.json", DAY_1)
    pipeline.run(apsis_source(path))
    path.write_text(json.dumps(DAY_2))
    with pytest.raises(Exception, match=r"was loaded before with .* bytes: give export_id="):
        pipeline.run(apsis_source(path))


def test_two_files_with_one_name_need_an_export_id(tmp_path, folder):
    for day, doc in (("2024-01-01", DAY_1), ("2024-01-02", DAY_2)):
        (folder / day).mkdir()
        add_day(folder / day, "export.json", doc)
    pipeline = duckdb_pipeline(tmp_path)
    with pytest.raises(Exception, match=r"are both export 'export\.json': give export_id="):
        pipeline.run(apsis_source(str(folder / "*" / "export.json")))
    pipeline = duckdb_pipeline(tmp_path, "with_ids")
    by_folder = apsis_source(str(folder / "*" / "export.json"), export_id=lambda uri: uri.split("/")[-2])
    pipeline.run(by_folder)
    assert sorted(set(table(pipeline, "attributes")["export"].to_pylist())) == ["2024-01-01", "2024-01-02"]


def test_bad_input_fails_the_run_and_loads_nothing(tmp_path, folder):
    add_day(folder, "a.json", DAY_1)
    (folder / "b.json").write_bytes(
        b'{"profiles": {"p9": {"sections": {"s1": {"attributes": {"10": {"value": 1}'
    )
    pipeline = duckdb_pipeline(tmp_path)
    with pytest.raises(Exception, match="near byte"):
        pipeline.run(apsis_source(str(folder / "*.json")))
    (folder / "b.json").unlink()
    pipeline.run(apsis_source(str(folder / "*.json")))  # a.json was not remembered: it loads now
    assert table(pipeline, "attributes").num_rows == 3


def test_bad_options_are_clear_errors():
    with pytest.raises(OptionsError, match="layout must be one of"):
        apsis_source("x.json", layout="tall")
    with pytest.raises(OptionsError, match="unknown table 'nope'"):
        apsis_source("x.json", tables=["nope"])


# -- apsis_api: the fetch cycle inside the pipeline ------------------------------------------------


@pytest.fixture
def api():
    with FakeApsis() as server:
        yield server


def test_apsis_api_requests_polls_downloads_and_loads(tmp_path, api):
    client = apsis_export.Client(api.url, client_id="cid", client_secret="s3cr3t", settings=FAST)
    pipeline = duckdb_pipeline(tmp_path)
    saved = tmp_path / "export.json.gz"
    pipeline.run(apsis_api(ExportRequest(attributes=["10462"]), client=client, save=saved))
    assert len(api.calls("POST", EXPORT_PATH)) == 1  # requested once, downloaded once for both tables
    assert len(api.calls("GET", "/exports/e-1/file")) == 1
    assert saved.read_bytes() == api.export_gzip
    for name in ("attributes", "events"):
        same_rows(without_dlt_columns(table(pipeline, name)), expected([saved], name))


def test_apsis_api_wide_layout_takes_its_columns_from_the_request(tmp_path, api):
    client = apsis_export.Client(api.url, client_id="cid", client_secret="s3cr3t", settings=FAST)
    pipeline = duckdb_pipeline(tmp_path)
    pipeline.run(apsis_api(api.poll_url, client=client, layout="wide", tables=["profiles"]))
    loaded = table(pipeline, "profiles")
    want = to_arrow(SAMPLE_DATA / "small.json.gz", "profiles", layout="wide").to_reader().read_all()
    assert loaded.num_rows == want.num_rows > 0
    assert loaded["export"][0].as_py().startswith("apsis-api-")

    only_asked = wrapped(
        {"p1": {"s1": {"attributes": {"10462": {"value": "x"}}}}, "p2": {"s1": {"attributes": {}}}}
    )
    api.export_json = json.dumps(only_asked).encode()
    api.export_gzip = gzip.compress(api.export_json)
    requested = duckdb_pipeline(tmp_path, "requested")
    requested.run(
        apsis_api(ExportRequest(attributes=["10462"]), client=client, layout="wide", tables=["profiles"])
    )
    columns = [c for c in table(requested, "profiles").column_names if not c.startswith("_dlt")]
    assert columns == [
        "profile_key",
        "section_id",
        "_10462",
        "export",
    ]  # the request's attribute, not discovered
    assert Counter(table(requested, "profiles")["_10462"].to_pylist()) == {"x": 1, None: 1}
