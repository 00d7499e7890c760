"""Outputs: datasets (hive partitions, rotation), any filesystem (a real S3 API on loopback:
moto's server), if_exists, and the commit rule: nothing under a final name before a run
completes, also when it is killed.

Datasets are read back with pyarrow (and DuckDB over the pyarrow dataset: DuckDB's own S3
reader is an extension it downloads, not available here) and compared row for row with the
plain local Parquet conversion of the same input.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from apsis_export import OptionsError, SinkError, convert, generate
from apsis_export.outputs import STAGING_PREFIX

from .conftest import SAMPLE_DATA

SMALL = SAMPLE_DATA / "small.json.gz"
BUCKET = "apsis-test"


def sorted_rows(table: pa.Table) -> pa.Table:
    return table.sort_by([(name, "ascending") for name in table.column_names])


def plain_tables(tmp_path, source=SMALL) -> dict[str, pa.Table]:
    out = tmp_path / "plain"
    summary = convert(source, out)
    return {name: pq.read_table(path) for name, path in summary.outputs.items()}


def read_dataset(path: str, reference: pa.Table, partitions: list[str], filesystem=None) -> pa.Table:
    """A dataset read back with its partition columns typed as the reference's (created_date: date32)."""
    fields = [
        reference.schema.field(c) if c in reference.column_names else pa.field(c, pa.date32())
        for c in partitions
    ]
    partitioning = ds.partitioning(pa.schema(fields), flavor="hive") if partitions else None
    return ds.dataset(path, format="parquet", partitioning=partitioning, filesystem=filesystem).to_table()


def visible_files(root) -> list[str]:
    """Files under root outside hidden (staging) directories."""
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


# -- datasets on a local disk ------------------------------------------------------------------


def test_partitioned_dataset_holds_the_rows_of_the_parquet_files(tmp_path):
    reference = plain_tables(tmp_path)
    out = tmp_path / "lake"
    summary = convert(SMALL, out, partition_by=["created_date", "type_id"])
    assert summary.outputs["events"] == out / "events"
    events = read_dataset(str(out / "events"), reference["events"], ["created_date", "type_id"])
    created = pc.cast(events["created_at"], pa.date32())
    assert events["created_date"].equals(created)  # the UTC date of created_at
    events = events.drop_columns(["created_date"]).select(reference["events"].column_names)
    assert sorted_rows(events).equals(sorted_rows(reference["events"]))
    # a table without the partition columns is a dataset of one level
    attributes = read_dataset(str(out / "attributes"), reference["attributes"], [])
    assert sorted_rows(attributes).equals(sorted_rows(reference["attributes"]))
    assert "events/created_date=2023-11-15/type_id=4381/small-0.parquet" in visible_files(out)


def test_worker_processes_write_the_same_dataset(tmp_path):
    reference = plain_tables(tmp_path)
    out = tmp_path / "lake"
    convert(SMALL, out, partition_by=["type_id"], jobs=2)
    events = read_dataset(str(out / "events"), reference["events"], ["type_id"])
    assert sorted_rows(events.select(reference["events"].column_names)).equals(
        sorted_rows(reference["events"])
    )


def test_rotation_bounds_rows_per_file_and_names_files_after_the_input(tmp_path):
    reference = plain_tables(tmp_path)
    out = tmp_path / "lake"
    convert(SMALL, out, tables=["attributes"], max_rows_per_file=300)
    files = visible_files(out)
    assert files == [f"attributes/small-{i}.parquet" for i in sorted(range(len(files)), key=str)]
    assert len(files) == -(-reference["attributes"].num_rows // 300)
    assert all(pq.read_metadata(out / f).num_rows <= 300 for f in files)
    assert sorted_rows(read_dataset(str(out / "attributes"), reference["attributes"], [])).equals(
        sorted_rows(reference["attributes"])
    )


def test_unknown_partition_column_is_an_options_error(tmp_path):
    with pytest.raises(OptionsError, match="no table has a column 'nope'"):
        convert(SMALL, tmp_path / "lake", partition_by=["nope"])
    with pytest.raises(OptionsError, match="Parquet datasets"):
        convert(SMALL, tmp_path / "lake", format="csv", partition_by=["type_id"])
    assert not (tmp_path / "lake").exists() or visible_files(tmp_path / "lake") == []


# -- if_exists ---------------------------------------------------------------------------------


def test_existing_table_file_is_an_error_and_nothing_is_written(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "events.parquet").write_bytes(b"an earlier file")
    with pytest.raises(SinkError, match=r"events\.parquet exists; nothing was written"):
        convert(SMALL, out, if_exists="error")
    assert os.listdir(out) == ["events.parquet"]
    assert (out / "events.parquet").read_bytes() == b"an earlier file"


def test_the_command_line_fails_on_an_existing_file_by_default(tmp_path):
    from click.testing import CliRunner

    from apsis_export.cli import main

    out = tmp_path / "out"
    assert CliRunner().invoke(main, ["convert", str(SMALL), "--out", str(out), "-q"]).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    result = CliRunner().invoke(main, ["convert", str(SMALL), "--out", str(out), "-q"])
    assert result.exit_code == 1 and "exists; nothing was written" in result.output
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert (
        CliRunner()
        .invoke(main, ["convert", str(SMALL), "--out", str(out), "-q", "--if-exists", "overwrite"])
        .exit_code
        == 0
    )


def test_skip_keeps_the_file_there_and_writes_the_others(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "events.parquet").write_bytes(b"an earlier file")
    convert(SMALL, out, if_exists="skip")
    assert (out / "events.parquet").read_bytes() == b"an earlier file"
    assert pq.read_table(out / "attributes.parquet").num_rows > 0


def test_rerun_with_overwrite_replaces_its_own_files_and_no_others(tmp_path):
    day1, day2 = tmp_path / "day-1.json.gz", tmp_path / "day-2.json.gz"
    day1.write_bytes(SMALL.read_bytes())
    day2.write_bytes(SMALL.read_bytes())
    out = tmp_path / "lake"
    convert(day1, out, tables=["attributes"], max_rows_per_file=100, if_exists="error")
    convert(day2, out, tables=["attributes"], max_rows_per_file=100, if_exists="error")
    before = visible_files(out)
    with pytest.raises(SinkError, match=r"day-1-0\.parquet exists"):
        convert(day1, out, tables=["attributes"], max_rows_per_file=100, if_exists="error")
    assert visible_files(out) == before
    convert(day1, out, tables=["attributes"], max_rows_per_file=500, if_exists="overwrite")  # fewer files now
    after = visible_files(out)
    assert [f for f in after if "day-2" in f] == [f for f in before if "day-2" in f]
    day1_files = [f for f in after if "day-1" in f]
    assert len(day1_files) == 3 and len([f for f in before if "day-1" in f]) == 12


# -- private files ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_local_files_are_owner_only_by_default(tmp_path, fmt):
    out = tmp_path / "out"
    convert(SMALL, out, format=fmt)
    modes = {p.name: p.stat().st_mode & 0o777 for p in out.iterdir()}
    assert modes and set(modes.values()) == {0o600}, modes


def test_dataset_files_are_owner_only_and_file_mode_sets_others(tmp_path):
    from click.testing import CliRunner

    from apsis_export.cli import main

    lake, shared = tmp_path / "lake", tmp_path / "shared"
    convert(SMALL, lake, partition_by=["type_id"])
    files = list(lake.rglob("*.parquet"))
    assert len(files) > 1 and {p.stat().st_mode & 0o777 for p in files} == {0o600}
    result = CliRunner().invoke(
        main, ["convert", str(SMALL), "--out", str(shared), "-q", "--file-mode", "640"]
    )
    assert result.exit_code == 0, result.output
    assert {p.stat().st_mode & 0o777 for p in shared.iterdir()} == {0o640}


def test_files_are_never_readable_by_others_while_written(tmp_path, monkeypatch):
    """The staging directory is owner-only, so a file is private before its mode is set."""
    from apsis_export.outputs import _output

    seen = []
    real_commit = _output.Output.commit

    def commit(self):
        seen.append(os.stat(self.staging).st_mode & 0o777)
        real_commit(self)

    monkeypatch.setattr(_output.Output, "commit", commit)
    convert(SMALL, tmp_path / "out")
    assert seen == [0o700]


# -- a failed or killed run -------------------------------------------------------------------


def test_failed_dataset_run_leaves_nothing(tmp_path):
    data = SMALL.with_suffix("").read_bytes()
    bad = tmp_path / "bad.json"
    bad.write_bytes(data[: len(data) // 2])
    out = tmp_path / "lake"
    with pytest.raises(Exception, match="near byte"):
        convert(bad, out, partition_by=["type_id"], max_rows_per_file=50)
    assert os.listdir(out) == []


def wait_for(condition, proc, timeout=60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the run ended (exit {proc.returncode}) before it could be killed")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the run wrote nothing within the timeout")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def big_export(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "big.json"
    generate(path, size=60_000_000, seed=3)
    return path


@pytest.mark.slow
def test_killed_local_run_leaves_no_visible_file(tmp_path, big_export):
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "apsis_export", "convert", str(big_export), "--out", str(out), "-q"]
    )
    wait_for(lambda: any(out.rglob(".*.part")), proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert visible_files(out) == []
    assert all(p.name.startswith(STAGING_PREFIX) for p in out.iterdir())


# -- a real S3 API on loopback ----------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_server():
    moto_server = pytest.importorskip("moto.server")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_server, monkeypatch):
    """Credentials in the environment, an empty bucket, and a pyarrow filesystem on it."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    fs = pafs.S3FileSystem(
        endpoint_override=s3_server,
        scheme="http",
        access_key="testing",
        secret_key="testing",
        region="us-east-1",
        allow_bucket_creation=True,
    )
    if fs.get_file_info(BUCKET).type != pafs.FileType.NotFound:
        fs.delete_dir_contents(BUCKET)
    else:
        fs.create_dir(BUCKET)
    return fs


def s3_uri(server: str, prefix: str) -> str:
    return f"s3://{BUCKET}/{prefix}?endpoint_override={server}&scheme=http"


def keys(fs, prefix: str) -> list[str]:
    infos = fs.get_file_info(pafs.FileSelector(f"{BUCKET}/{prefix}", recursive=True, allow_not_found=True))
    return sorted(i.path[len(BUCKET) + len(prefix) + 2 :] for i in infos if i.type == pafs.FileType.File)


@pytest.mark.slow
def test_s3_partitioned_dataset_reads_back_equal_with_pyarrow_and_duckdb(tmp_path, s3, s3_server):
    duckdb = pytest.importorskip("duckdb")
    reference = plain_tables(tmp_path)
    from click.testing import CliRunner

    from apsis_export.cli import main

    result = CliRunner().invoke(
        main,
        ["convert", str(SMALL), "--out", s3_uri(s3_server, "apsis/"), "--partition-by", "created_date", "-q"],
    )
    assert result.exit_code == 0, result.output
    assert "events/created_date=2023-11-15/small-0.parquet" in keys(s3, "apsis")
    assert not [k for k in keys(s3, "apsis") if STAGING_PREFIX in k]
    events = read_dataset(f"{BUCKET}/apsis/events", reference["events"], ["created_date"], filesystem=s3)
    events = events.drop_columns(["created_date"]).select(reference["events"].column_names)
    assert sorted_rows(events).equals(sorted_rows(reference["events"]))
    # DuckDB over the pyarrow datasets on S3, row for row against the local Parquet files
    for name, partitions in (("events", ["created_date"]), ("attributes", [])):
        fields = pa.schema([pa.field(c, pa.date32()) for c in partitions])
        dataset = ds.dataset(  # noqa: F841 (DuckDB's replacement scan finds it by name)
            f"{BUCKET}/apsis/{name}",
            format="parquet",
            filesystem=s3,
            partitioning=ds.partitioning(fields, flavor="hive") if partitions else None,
        )
        columns = ", ".join(reference[name].column_names)
        local = tmp_path / "plain" / f"{name}.parquet"
        on_s3 = duckdb.sql(f"select {columns} from dataset order by all").fetchall()
        assert on_s3 == duckdb.sql(f"select {columns} from '{local}' order by all").fetchall()
        assert len(on_s3) == reference[name].num_rows > 0


def test_s3_plain_files_from_the_environment_endpoint(tmp_path, s3, s3_server, monkeypatch):
    reference = plain_tables(tmp_path)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{s3_server}")
    summary = convert(SMALL, f"s3://{BUCKET}/plain", format="parquet")
    assert summary.outputs["events"] == f"s3://{BUCKET}/plain/events.parquet"
    assert keys(s3, "plain") == ["attributes.parquet", "events.parquet", "extras.parquet"]
    for name, table in reference.items():
        assert pq.read_table(f"{BUCKET}/plain/{name}.parquet", filesystem=s3).equals(table)


def test_s3_through_a_filesystem_object_with_csv(tmp_path, s3):
    convert(SMALL, f"{BUCKET}/csv", format="csv", filesystem=s3)
    local = tmp_path / "csv"
    convert(SMALL, local, format="csv")
    for name in ("attributes", "events", "extras"):
        with s3.open_input_stream(f"{BUCKET}/csv/{name}.csv") as remote:
            assert remote.read() == (local / f"{name}.csv").read_bytes()


def test_s3_existing_object_is_an_error(s3, s3_server):
    with s3.open_output_stream(f"{BUCKET}/taken/events.parquet") as f:
        f.write(b"an earlier object")
    with pytest.raises(SinkError, match=f"s3://{BUCKET}/taken/events.parquet exists"):
        convert(SMALL, s3_uri(s3_server, "taken"), if_exists="error")
    assert keys(s3, "taken") == ["events.parquet"]


@pytest.mark.slow
def test_killed_s3_run_leaves_nothing_under_final_names(s3, s3_server, big_export):
    env = {**os.environ, "AWS_ENDPOINT_URL": f"http://{s3_server}"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "apsis_export",
            "convert",
            str(big_export),
            "--out",
            f"s3://{BUCKET}/killed",
            "--max-rows-per-file",
            "20000",
            "-q",
        ],
        env=env,
    )
    wait_for(lambda: keys(s3, "killed"), proc)  # dataset files are being staged
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    left = keys(s3, "killed")
    assert left and all(k.startswith(STAGING_PREFIX) for k in left)


def test_fsspec_protocol(tmp_path):
    fsspec = pytest.importorskip("fsspec")
    reference = plain_tables(tmp_path)
    memory = fsspec.filesystem("memory")
    if memory.exists("/apsis"):
        memory.rm("/apsis", recursive=True)
    convert(SMALL, "memory://apsis/out", partition_by=["type_id"])
    assert memory.exists("/apsis/out/events/type_id=4381/small-0.parquet")
    assert not [p for p in memory.find("/apsis/out") if STAGING_PREFIX in p]
    with memory.open("/apsis/out/attributes/small-0.parquet", "rb") as f:
        assert sorted_rows(pq.read_table(f)).equals(sorted_rows(reference["attributes"]))
