"""The ``apsis_export`` PySpark data source, in a real local Spark (``local[2]``, loopback only).

The reference is :func:`apsis_export.to_arrow` (and :func:`apsis_export.read` for the counts)
over the same generated exports: a DataFrame holds the same rows, with the same values.
One SparkSession serves the whole module (starting one costs seconds).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections import Counter

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

import apsis_export
from apsis_export import EXPORT_IDS, generate, generated_metadata, to_arrow

if os.environ.get("CI"):  # CI installs every extra and a JRE: a missing one fails, never skips
    import pyspark  # noqa: F401

    assert shutil.which("java"), "Spark needs a JRE: .ci/run installs openjdk-17-jre-headless"
else:
    pytest.importorskip("pyspark", reason="the spark extra: pip install -e '.[spark]'")
    if not shutil.which("java"):
        pytest.skip("Spark needs a JRE (java on PATH)", allow_module_level=True)

from apsis_export.spark import ApsisExportDataSource, register, spark_schema

SIZES_SEEDS = [(400_000, 1, True), (250_000, 2, False), (150_000, 3, True)]


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """Three generated exports (different seeds and sizes, gzip and plain) and their metadata."""
    folder = tmp_path_factory.mktemp("exports")
    files = []
    for size, seed, gz in SIZES_SEEDS:
        path = folder / f"day-{seed}.json{'.gz' if gz else ''}"
        generate(path, size=size, seed=seed, gzip=gz)
        files.append(path)
    metadata = folder.parent / "metadata.json"
    generated_metadata().save(metadata)
    return folder, files, metadata


@pytest.fixture(scope="module")
def s3_endpoint():
    """A real S3 API on loopback (moto's server), found through the standard AWS environment:
    set before Spark starts, so its Python workers (the executors) see it too."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    yield {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
    }
    server.stop()


@pytest.fixture(scope="module")
def spark(s3_endpoint):
    from pyspark.sql import SparkSession

    env = {
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        **s3_endpoint,
    }  # workers: this Python
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("apsis-export tests")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    yield session
    session.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def expected(files, table: str, export_id: str = "name", **options) -> pa.Table:
    """The rows of ``table`` in every file, as to_arrow gives them, each with its file's export id
    (as convert_many's --export-id gives it)."""
    tables = []
    for f in files:
        rows = to_arrow(f, table, **options).to_reader().read_all()
        export = EXPORT_IDS[export_id](str(f))
        tables.append(rows.append_column("export", pa.array([export] * rows.num_rows, pa.string())))
    return pa.concat_tables(tables)


def same_rows(got: pa.Table, want: pa.Table) -> None:
    """Equal as multisets of rows (Spark's row order is its own), values compared in Spark's types."""
    assert got.column_names == want.column_names
    want = want.cast(got.schema)
    keys = [(name, "ascending") for name in got.column_names]
    assert got.num_rows == want.num_rows > 0
    assert got.sort_by(keys).equals(want.sort_by(keys))


def test_one_partition_per_file_and_rows_equal_to_arrow(spark, exports):
    folder, files, _ = exports
    for table in ("attributes", "events"):
        df = spark.read.format("apsis_export").option("table", table).load(str(folder / "day-*.json*"))
        assert df.rdd.getNumPartitions() == len(files)
        export = pa.field("export", pa.string())
        assert df.schema == spark_schema(to_arrow(files[0], table).schema.append(export))
        same_rows(df.toArrow(), expected(files, table))


def test_export_column_by_the_export_id_rules(spark, exports, tmp_path):
    folder, files, _ = exports
    reader = spark.read.format("apsis_export").option("table", "events")
    for rule, values in [
        ("name", ["day-1.json.gz", "day-2.json", "day-3.json.gz"]),
        ("stem", ["day-1", "day-2", "day-3"]),
        ("parent", [folder.name] * 3),
    ]:
        df = reader.option("export_id", rule).load(str(folder / "day-*.json*"))
        same_rows(df.toArrow(), expected(files, "events", export_id=rule))
        counts = {r["export"]: r["count"] for r in df.groupBy("export").count().collect()}
        assert sorted(counts) == sorted(set(values))
        assert sum(counts.values()) == len(expected(files, "events"))


def test_counts_equal_read(spark, exports):
    folder, files, _ = exports
    kinds = Counter(type(record).__name__ for f in files for record in apsis_export.read(f))
    reader = spark.read.format("apsis_export")
    assert reader.option("table", "attributes").load(str(folder / "*")).count() == kinds["Attribute"] > 0
    assert reader.option("table", "events").load([str(f) for f in files]).count() == kinds["Event"] > 0
    assert reader.option("table", "extras").load(str(folder / "*")).count() == kinds["Extra"]


def test_names_and_wide_layout_from_a_metadata_file(spark, exports):
    folder, files, metadata = exports
    names = generated_metadata()
    df = (
        spark.read.format("apsis_export")
        .option("names", "true")
        .option("metadata", str(metadata))
        .option("table", "attributes")
        .load(str(folder / "*.json*"))
    )
    same_rows(df.toArrow(), expected(files, "attributes", names=names))
    wide = (
        spark.read.format("apsis_export")
        .options(layout="wide", names="true", metadata=str(metadata))
        .load(str(folder / "*.json*"))
    )
    same_rows(wide.toArrow(), expected(files, "profiles", layout="wide", names=names))


def test_dedupe_events_option(spark, tmp_path):
    doubled = tmp_path / "doubled.json"
    event = {"correlationId": "c1", "typeId": "1", "createdAt": 1700000000000, "data": {"x": 1}}
    doubled.write_text(json.dumps({"p1": {"s1": {"events": [event, event]}}}))
    reader = spark.read.format("apsis_export").option("table", "events")
    assert reader.load(str(doubled)).count() == len(expected([doubled], "events")) == 2
    assert reader.option("dedupe_events", "true").load(str(doubled)).count() == 1


def test_partitioned_write(spark, exports, tmp_path):
    folder, files, _ = exports
    events = spark.read.format("apsis_export").option("table", "events").load(str(folder / "*"))
    out = tmp_path / "events"
    events.write.partitionBy("type_id").parquet(str(out))
    written = ds.dataset(out, format="parquet", partitioning="hive").to_table()
    want = expected(files, "events")
    assert Counter(map(str, written["type_id"].to_pylist())) == Counter(want["type_id"].to_pylist())
    assert {p.name.split("=")[0] for p in out.iterdir() if p.is_dir()} == {"type_id"}
    back = spark.read.parquet(str(out)).select(*want.column_names)
    same_rows(back.toArrow(), want)


def test_bad_file_fails_the_job_naming_it(spark, exports, tmp_path):
    _, files, _ = exports
    bad = tmp_path / "bad.json"
    bad.write_bytes(b'{"profiles": {"p1": {"sections": {"s1": {"attributes": {"a": 1}, "events": [}}}}')
    df = spark.read.format("apsis_export").load([str(files[0]), str(bad)])
    with pytest.raises(Exception) as failure:
        df.count()
    message = str(failure.value)
    assert str(bad) in message and "near byte" in message and "InputError" in message


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"layout": "wide"}, "needs options names=true and metadata"),
        ({"table": "profiles"}, "needs options names=true and metadata"),
        ({"names": "true"}, "needs option metadata"),
        ({"dedupe_events": "maybe"}, "must be true or false"),
        ({"layout": "tall"}, "layout must be one of"),
        ({"export_id": "path"}, "export_id must be one of name, stem, parent"),
    ],
)
def test_bad_options_are_clear_errors(spark, exports, options, message):
    folder, _, _ = exports
    with pytest.raises(Exception, match=message):
        _ = spark.read.format("apsis_export").options(**options).load(str(folder / "*")).schema


def test_no_matching_file_is_a_clear_error(spark, tmp_path):
    with pytest.raises(Exception, match="no export file matches"):
        _ = spark.read.format("apsis_export").load(str(tmp_path / "*.json.gz")).schema


def test_register_in_a_session(spark, exports):
    register(spark)  # idempotent next to the automatic registration (package pyspark_apsis_export)
    _, files, _ = exports
    assert spark.read.format(ApsisExportDataSource.name()).load(str(files[1])).count() == len(
        expected([files[1]], "attributes")
    )


def test_automatic_registration_module():
    import pyspark_apsis_export

    assert pyspark_apsis_export.DefaultSource is ApsisExportDataSource
    assert ApsisExportDataSource.name() == "apsis_export"


def test_exports_on_s3(spark, exports):
    import pyarrow.fs as pafs

    _, files, metadata = exports
    s3, _ = pafs.FileSystem.from_uri("s3://exports/?allow_bucket_creation=true")
    s3.create_dir("exports")
    for path in [*files, metadata]:
        pafs.copy_files(str(path), f"exports/daily/{path.name}", destination_filesystem=s3)
    reader = spark.read.format("apsis_export").option("table", "events")
    df = reader.load("s3://exports/daily/day-*.json*")
    assert df.rdd.getNumPartitions() == len(files)
    same_rows(df.toArrow(), expected(files, "events"))
    named = reader.options(names="true", metadata="s3://exports/daily/metadata.json").load(
        "s3://exports/daily/day-1.*"
    )
    same_rows(named.toArrow(), expected(files[:1], "events", names=generated_metadata()))
