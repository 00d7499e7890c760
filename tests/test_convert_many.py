"""convert_many and `convert INPUT...`: many generated exports into one dataset per table, on a
local disk and on a real S3 API on loopback (moto's server), read back with pyarrow.dataset and
compared with converting each file alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from apsis_export import (
    EXPORT_IDS,
    InputsFailed,
    OptionsError,
    _parallel,
    convert,
    convert_many,
    generate,
    generated_metadata,
)
from apsis_export._engines import _members, _units
from apsis_export.outputs import STAGING_PREFIX
from apsis_export.sinks._background import BackgroundWriter

from .test_outputs import BUCKET, s3, s3_server, s3_uri  # noqa: F401  (fixtures)

SIZE = 300_000
TABLES = ("attributes", "events")


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> list[Path]:
    """Three small generated exports, different seeds, one of them gzip."""
    folder = tmp_path_factory.mktemp("exports")
    paths = [folder / "day-1.json", folder / "day-2.json.gz", folder / "day-3.json"]
    for seed, path in enumerate(paths, 1):
        generate(path, size=SIZE, seed=seed)
    return paths


@pytest.fixture(scope="module")
def alone(exports, tmp_path_factory) -> dict[str, dict[str, pa.Table]]:
    """Each export converted on its own: file name -> table -> rows."""
    tables = {}
    for path in exports:
        out = tmp_path_factory.mktemp("alone")
        convert(path, out)
        tables[path.name] = {t: pq.read_table(out / f"{t}.parquet") for t in TABLES}
    return tables


def read_dataset(out, table: str, filesystem=None) -> pa.Table:
    return ds.dataset(f"{out}/{table}", format="parquet", filesystem=filesystem).to_table()


def assert_equal_to_alone(out, alone, exports=None, filesystem=None) -> None:
    """Every table of the dataset holds each export's rows exactly as converting it alone gives
    them, in the same order, plus its export column."""
    names = exports or list(alone)
    for table in TABLES:
        data = read_dataset(out, table, filesystem)
        assert data.schema.names == [*alone[names[0]][table].schema.names, "export"]
        assert sorted(set(data.column("export").to_pylist())) == sorted(names)
        for name in names:
            mine = data.filter(pc.field("export") == name).drop_columns(["export"])
            assert mine.num_rows > 0
            assert mine.equals(alone[name][table]), (table, name)


def visible(root: Path) -> list[str]:
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


@pytest.mark.slow
def test_many_exports_into_one_local_dataset(tmp_path, exports, alone):
    out = tmp_path / "out"
    seen = []
    summary = convert_many([str(exports[0].parent / "day-*.json*")], out, jobs=2, progress=seen.append)
    assert [i.status for i in summary.inputs] == ["converted"] * 3
    assert [i.export for i in summary.inputs] == [p.name for p in exports]
    assert_equal_to_alone(out, alone)
    # each input's rows in files of its own, named after it; nothing else visible, nothing staged left
    assert visible(out) == sorted(
        f"{t}/{stem}-0.parquet" for t in (*TABLES, "extras") for stem in ("day-1", "day-2", "day-3")
    )
    assert not [p for p in out.iterdir() if p.name.startswith(STAGING_PREFIX)]
    # the total is the sum of the inputs'; one progress over all bytes, ending at their sum
    assert summary.rows["events"] == sum(alone[p.name]["events"].num_rows for p in exports)
    sizes = sum(p.stat().st_size for p in exports)
    assert seen and seen[-1].total_bytes == sizes and seen[-1].bytes_read == sizes
    assert summary.bytes_read == sizes
    assert str(summary).startswith("total: 3 inputs (3 converted, 0 skipped, 0 failed)")


def test_plain_convert_has_no_export_column(tmp_path, exports):
    convert(exports[0], tmp_path)
    assert "export" not in pq.read_schema(tmp_path / "events.parquet").names


@pytest.mark.slow
def test_export_id_rules_and_ids_that_repeat(tmp_path):
    for day in ("2024-06-01", "2024-06-02"):
        (tmp_path / day).mkdir()
        generate(tmp_path / day / "export.json", size=100_000, seed=len(day))
    pattern = str(tmp_path / "*" / "export.json")
    with pytest.raises(OptionsError, match="export-id"):
        convert_many(pattern, tmp_path / "out")  # both are export.json
    summary = convert_many(pattern, tmp_path / "out", export_id=EXPORT_IDS["parent"])
    assert sorted(set(read_dataset(tmp_path / "out", "events").column("export").to_pylist())) == [
        "2024-06-01",
        "2024-06-02",
    ]
    assert summary.ok and sorted(os.listdir(tmp_path / "out" / "events")) == [
        "2024-06-01-0.parquet",
        "2024-06-02-0.parquet",
    ]
    assert EXPORT_IDS["stem"]("s3://b/x/day-1.json.gz?endpoint_override=h:1") == "day-1"


@pytest.fixture
def with_bad(tmp_path, exports) -> list[Path]:
    """day-1, a truncated day-2, day-3 (in this order)."""
    bad = tmp_path / "in" / "day-2-bad.json"
    bad.parent.mkdir()
    bad.write_bytes(exports[0].read_bytes()[: SIZE // 2])
    return [exports[0], bad, exports[2]]


def test_a_bad_input_stops_the_run_and_leaves_no_file(tmp_path, with_bad):
    out = tmp_path / "out"
    with pytest.raises(InputsFailed, match=r"day-2-bad\.json: invalid JSON") as failed:
        convert_many(with_bad, out, jobs=1)
    assert [i.status for i in failed.value.summary.inputs] == ["converted", "failed", "not started"]
    assert failed.value.exit_code == 9
    assert visible(out) == sorted(f"{t}/day-1-0.parquet" for t in (*TABLES, "extras"))
    assert not [p for p in out.iterdir() if p.name.startswith(STAGING_PREFIX)]


def test_keep_going_converts_the_others(tmp_path, with_bad, alone):
    out = tmp_path / "out"
    summary = convert_many(with_bad, out, jobs=2, keep_going=True)
    assert [i.status for i in summary.inputs] == ["converted", "failed", "converted"]
    assert not summary.ok and summary.failed[0].input.endswith("day-2-bad.json")
    assert "near byte" in summary.failed[0].error
    assert not any("day-2-bad" in f for f in visible(out))
    assert_equal_to_alone(out, alone, ["day-1.json", "day-3.json"])


@pytest.mark.slow
def test_daily_rerun_with_skip_reads_only_the_new_file(tmp_path, exports, alone):
    folder, out = tmp_path / "daily", tmp_path / "out"
    folder.mkdir()
    for path in exports[:2]:
        (folder / path.name).write_bytes(path.read_bytes())
    first = convert_many(str(folder / "*"), out, if_exists="skip")
    assert [i.status for i in first.inputs] == ["converted", "converted"]
    before = {f: (out / f).stat().st_mtime_ns for f in visible(out)}
    # the next day: a new file; yesterday's files are spoiled, so reading them again would fail
    (folder / exports[2].name).write_bytes(exports[2].read_bytes())
    for path in exports[:2]:
        (folder / path.name).write_bytes(b"not JSON at all")
    seen = []
    second = convert_many(str(folder / "*"), out, if_exists="skip", progress=seen.append)
    assert [i.status for i in second.inputs] == ["skipped", "skipped", "converted"]
    new_size = exports[2].stat().st_size
    assert second.bytes_read == new_size and seen[-1].total_bytes == new_size
    assert {f: (out / f).stat().st_mtime_ns for f in before} == before
    assert_equal_to_alone(out, alone)
    # the default if_exists of the CLI, error: an input whose files are there fails before reading
    with pytest.raises(InputsFailed, match="already"):
        convert_many(str(folder / "*"), out, if_exists="error")


def test_many_inputs_need_the_wide_columns_up_front(tmp_path, exports):
    with pytest.raises(OptionsError, match="known before reading"):
        convert_many(exports, tmp_path / "out", layout="wide")
    summary = convert_many(exports, tmp_path / "out", layout="wide", names=generated_metadata())
    profiles = read_dataset(tmp_path / "out", "profiles")
    assert profiles.num_rows == summary.rows["profiles"] and "export" in profiles.schema.names


@pytest.mark.slow
def test_s3_inputs_into_an_s3_dataset(tmp_path, exports, alone, s3, s3_server):  # noqa: F811
    for path in exports:
        with s3.open_output_stream(f"{BUCKET}/in/{path.name}", compression=None) as stream:
            stream.write(path.read_bytes())
    summary = convert_many(s3_uri(s3_server, "in/day-*"), s3_uri(s3_server, "tables"), jobs=2)
    assert summary.ok and [i.export for i in summary.inputs] == [p.name for p in exports]
    assert_equal_to_alone(f"{BUCKET}/tables", alone, filesystem=s3)
    again = convert_many(s3_uri(s3_server, "in/day-*"), s3_uri(s3_server, "tables"), if_exists="skip")
    assert [i.status for i in again.inputs] == ["skipped"] * 3
    infos = s3.get_file_info(pafs.FileSelector(f"{BUCKET}/tables", recursive=True))
    assert not [i for i in infos if STAGING_PREFIX in i.path]


def run_cli(*args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "apsis_export", "convert", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


@pytest.mark.slow
def test_cli_many_inputs(tmp_path, exports, with_bad, alone):
    glob = str(exports[0].parent / "day-*")
    done = run_cli(glob, "--out", "out", "--export-id", "stem", "-j", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert [line.split(":")[1].strip() for line in lines[:3]] == ["day-1", "day-2", "day-3"]
    assert lines[3].startswith("apsis-export: total: 3 inputs (3 converted, 0 skipped, 0 failed)")
    assert sorted(set(read_dataset(tmp_path / "out", "events").column("export").to_pylist())) == [
        "day-1",
        "day-2",
        "day-3",
    ]
    again = run_cli(glob, "--out", "out", "--export-id", "stem", "--if-exists", "skip", cwd=tmp_path)
    assert again.returncode == 0 and again.stderr.count("skipped, its files are in the dataset") == 3
    # a bad input: exit 9 with and without --keep-going, its name in the error line, no file of it
    stopped = run_cli(*with_bad, "--out", "bad", "-j", "1", cwd=tmp_path)
    assert stopped.returncode == 9 and "error: " + str(with_bad[1]) in stopped.stderr
    assert "Traceback" not in stopped.stderr and "not started" in stopped.stderr
    going = run_cli(*with_bad, "--out", "bad2", "--keep-going", cwd=tmp_path)
    assert going.returncode == 9 and "1 of 3 inputs failed" in going.stderr
    assert_equal_to_alone(tmp_path / "bad2", alone, ["day-1.json", "day-3.json"])
    # one file converts as it always did: a file per table, no export column
    one = run_cli(exports[0], "--out", "one", cwd=tmp_path)
    assert one.returncode == 0 and (tmp_path / "one" / "events.parquet").is_file()
    assert "export" not in pq.read_schema(tmp_path / "one" / "events.parquet").names


def read_rows(path: Path) -> tuple[list[str], list[list]]:
    """A CSV or JSONL file's column names and rows, every CSV value as its text (null: None)."""
    if path.suffix == ".jsonl":
        rows = [orjson.loads(line) for line in path.read_bytes().splitlines()]
        return (list(rows[0]) if rows else []), [list(row.values()) for row in rows]
    header = pa_csv.read_csv(path, read_options=pa_csv.ReadOptions(skip_rows_after_names=10**9))
    types = dict.fromkeys(header.schema.names, pa.string())
    table = pa_csv.read_csv(path, convert_options=pa_csv.ConvertOptions(column_types=types))
    return table.schema.names, [list(row.values()) for row in table.to_pylist()]


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_many_exports_as_csv_and_jsonl(tmp_path, exports, fmt):
    out = tmp_path / "out"
    summary = convert_many(exports, out, format=fmt, jobs=2)
    assert summary.ok and summary.outputs == {t: out / t for t in (*TABLES, "extras")}
    stems = ("day-1", "day-2", "day-3")
    assert visible(out) == sorted(f"{t}/{stem}-0.{fmt}" for t in (*TABLES, "extras") for stem in stems)
    assert not [p for p in out.iterdir() if p.name.startswith(STAGING_PREFIX)]
    for path, stem in zip(exports, stems, strict=True):
        convert(path, tmp_path / stem, format=fmt)
        for table in (*TABLES, "extras"):
            names, rows = read_rows(tmp_path / stem / f"{table}.{fmt}")
            many_names, many_rows = read_rows(out / table / f"{stem}-0.{fmt}")
            assert many_names == [*names, "export"]
            assert many_rows == [[*row, path.name] for row in rows] and rows, (table, stem)
            assert oct((out / table / f"{stem}-0.{fmt}").stat().st_mode & 0o777) == oct(0o600)
    # the daily re-run: the inputs whose files are there are skipped unread
    again = convert_many(exports, out, format=fmt, if_exists="skip")
    assert [i.status for i in again.inputs] == ["skipped"] * 3


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_bad_input_leaves_no_csv_or_jsonl_file(tmp_path, with_bad, fmt):
    out = tmp_path / "out"
    summary = convert_many(with_bad, out, format=fmt, keep_going=True)
    assert [i.status for i in summary.inputs] == ["converted", "failed", "converted"]
    assert visible(out) == sorted(
        f"{t}/{stem}-0.{fmt}" for t in (*TABLES, "extras") for stem in ("day-1", "day-3")
    )
    assert not [p for p in out.iterdir() if p.name.startswith(STAGING_PREFIX)]


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_column_of_lines_encoded_by_jobs_workers(tmp_path, monkeypatch, exports, fmt):
    """convert(export=, jobs=2): workers encode batches without the export column (they do not
    know it); the sink adds it, so the file is the one jobs=1 writes, byte for byte."""
    monkeypatch.setattr(_units, "UNIT_BYTES", 2000)
    monkeypatch.setattr(_members, "BLOCK_SIZE", 8192)
    monkeypatch.setattr(_parallel, "INLINE_UNITS", 1)
    monkeypatch.setattr(_parallel, "start_method", "fork")
    for jobs in (1, 2):
        convert(exports[0], tmp_path / str(jobs), format=fmt, export="day-1.json", jobs=jobs)
    for table in (*TABLES, "extras"):
        one = (tmp_path / "1" / table / f"day-1-0.{fmt}").read_bytes()
        assert one == (tmp_path / "2" / table / f"day-1-0.{fmt}").read_bytes() and b"day-1.json" in one


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_inline_writes_give_the_files_of_the_writer_thread(tmp_path, monkeypatch, exports, fmt):
    """With a worker on every core, sinks write in the converting thread (BackgroundWriter.inline):
    the same files, byte for byte but for Parquet's page layout (the rows then)."""
    for inline in (False, True):
        monkeypatch.setattr(BackgroundWriter, "inline", inline)
        convert(exports[1], tmp_path / str(inline), format=fmt, export="day-2")
        convert(exports[1], tmp_path / f"file-{inline}", format=fmt)
    for folder in ("{}", "file-{}"):
        threaded, inline = (tmp_path / folder.format(flag) for flag in (False, True))
        names = sorted(p.relative_to(threaded) for p in threaded.rglob("*") if p.is_file())
        assert names == sorted(p.relative_to(inline) for p in inline.rglob("*") if p.is_file())
        assert len(names) == 3
        for name in names:
            if fmt == "parquet":
                assert pq.read_table(inline / name).equals(pq.read_table(threaded / name))
            else:
                assert (inline / name).read_bytes() == (threaded / name).read_bytes()


def test_many_inputs_refuse_delta_and_partitions_of_csv(tmp_path, exports):
    with pytest.raises(OptionsError, match="not Delta tables"):
        convert_many(exports, tmp_path / "out", format="delta")
    with pytest.raises(OptionsError, match="write Parquet datasets"):
        convert_many(exports, tmp_path / "out", format="csv", partition_by=["export"])
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_csv_and_jsonl_datasets_on_s3(tmp_path, exports, s3, s3_server):  # noqa: F811
    for fmt in ("csv", "jsonl"):
        summary = convert_many(exports[:2], s3_uri(s3_server, f"{fmt}-tables"), format=fmt, jobs=2)
        assert summary.ok
        for table in (*TABLES, "extras"):
            for path, stem in zip(exports[:2], ("day-1", "day-2"), strict=True):
                local = tmp_path / f"{fmt}-{table}-{stem}.{fmt}"
                with s3.open_input_stream(f"{BUCKET}/{fmt}-tables/{table}/{stem}-0.{fmt}") as body:
                    local.write_bytes(body.read())
                convert(path, tmp_path / f"alone-{stem}", format=fmt)
                names, rows = read_rows(tmp_path / f"alone-{stem}" / f"{table}.{fmt}")
                assert read_rows(local) == ([*names, "export"], [[*row, path.name] for row in rows])
        infos = s3.get_file_info(pafs.FileSelector(f"{BUCKET}/{fmt}-tables", recursive=True))
        assert not [i for i in infos if STAGING_PREFIX in i.path]


def test_partitioned_by_export(tmp_path, exports, alone):
    out = tmp_path / "out"
    convert_many(exports[:2], out, partition_by=["export"])
    assert sorted(p.name for p in (out / "events").iterdir()) == ["export=day-1.json", "export=day-2.json.gz"]
    for table in TABLES:
        data = ds.dataset(out / table, format="parquet", partitioning="hive").to_table()
        for name in ("day-1.json", "day-2.json.gz"):
            mine = data.filter(pc.field("export") == name).drop_columns(["export"])
            assert mine.equals(alone[name][table])
