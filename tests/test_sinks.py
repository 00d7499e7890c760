"""Each sink, read back with a real reader and compared with the records."""

from __future__ import annotations

import csv
import json
import sys
import textwrap
from datetime import datetime, timezone
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import apsis_export
from apsis_export import Attribute, Event, FileSink, InputError, SinkError
from apsis_export import sinks as sinks_module
from apsis_export.sinks import _parquet

from .conftest import SAMPLE_DATA

TINY = SAMPLE_DATA / "tiny.json"


def iso(ms):
    return (
        None
        if ms is None
        else datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{ms % 1000:03d}Z"
    )


def to_json(value) -> str:
    """Compact JSON written independently of the code under test; Decimals keep their digits."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{to_json(k)}:{to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(map(to_json, value)) + "]"
    return json.dumps(value, ensure_ascii=False)


def as_text(value, *, quote_strings: bool):
    """The contract's text form: JSON notation; strings bare for attribute values, quoted in JSON columns."""
    if value is None:
        return None
    if isinstance(value, str) and not quote_strings:
        return value
    return to_json(value)


def expected_rows(source):
    """Rows per table as text, straight from the records (the contract of CSV and Parquet)."""
    rows = {"attributes": [], "events": [], "extras": []}
    for r in apsis_export.read(source):
        if isinstance(r, Attribute):
            rows["attributes"].append(
                [
                    r.profile_key,
                    r.section_id,
                    r.attribute_id,
                    as_text(r.value, quote_strings=False),
                    r.value_type,
                ]
            )
        elif isinstance(r, Event):
            rows["events"].append(
                [
                    r.profile_key,
                    r.section_id,
                    r.correlation_id,
                    r.type_id,
                    r.source_event_time,
                    r.created_at,
                    as_text(r.data, quote_strings=True),
                ]
            )
        else:
            rows["extras"].append([r.profile_key, r.section_id, r.key, as_text(r.value, quote_strings=True)])
    return rows


def test_decimal_text_keeps_digits():
    assert as_text(Decimal("1234.50"), quote_strings=False) == "1234.50"
    assert as_text({"a": Decimal("19.90")}, quote_strings=True) == '{"a":19.90}'


def test_parquet_reads_back_equal_to_records(tmp_path):
    summary = apsis_export.convert(TINY, tmp_path, format="parquet")
    expected = expected_rows(TINY)
    for table in ("attributes", "events", "extras"):
        got = pq.read_table(tmp_path / f"{table}.parquet")
        rows = [list(row.values()) for row in got.to_pylist()]
        if table == "events":
            rows = [
                r[:4] + [None if t is None else int(t.timestamp() * 1000 + 0.5) for t in r[4:6]] + r[6:]
                for r in rows
            ]
        assert rows == expected[table], table
        assert summary.rows[table] == len(expected[table])
    schema = pq.read_schema(tmp_path / "events.parquet")
    assert schema.field("created_at").type == pa.timestamp("ms", tz="UTC")
    assert all(
        schema.field(n).type == pa.string() for n in ("profile_key", "correlation_id", "type_id", "data")
    )
    meta = pq.ParquetFile(tmp_path / "attributes.parquet").metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"


def test_parquet_attribute_values_are_text_per_contract(tmp_path):
    apsis_export.convert(TINY, tmp_path, format="parquet", tables=["attributes"])
    values = {
        r["attribute_id"]: r["value"]
        for r in pq.read_table(tmp_path / "attributes.parquet").to_pylist()
        if r["profile_key"] == "anna@example.com"
    }
    assert values["10453"] == "true"
    assert values["10455"] == "123456789012345678901234567890"
    assert values["10456"] == "1234.50"
    assert values["10459"] is None and values["com.apsis1.tags.vip"] is None
    assert values["10460"] == '{"nested":[1,0.0025,"x"]}'
    assert values["10461"] == '["a","b"]'


def test_csv_keeps_empty_text_apart_from_null(tmp_path, write_export):
    path = write_export({"p": {"s": {"attributes": {"empty": {"value": ""}, "null": {"value": None}}}}})
    apsis_export.convert(path, tmp_path, format="csv", tables=["attributes"])
    lines = (tmp_path / "attributes.csv").read_bytes().split(b"\r\n")
    assert lines[1] == b'"p","s","empty","","string"' and lines[2] == b'"p","s","null",,"null"'


def test_csv_reads_back_equal_to_records(tmp_path):
    apsis_export.convert(TINY, tmp_path, format="csv")
    expected = expected_rows(TINY)
    for table in ("attributes", "events", "extras"):
        raw = (tmp_path / f"{table}.csv").read_bytes()
        assert raw.count(b"\r\n") >= len(expected[table]) + 1  # RFC 4180 line ends
        with open(tmp_path / f"{table}.csv", newline="", encoding="utf-8") as fh:
            header, *rows = list(csv.reader(fh))
        assert tuple(header) == apsis_export.TABLES[table].column_names
        want = [
            [
                ("" if v is None else iso(v) if table == "events" and i in (4, 5) else v)
                for i, v in enumerate(row)
            ]
            for row in expected[table]
        ]
        assert rows == want, table


def test_jsonl_keeps_json_types(tmp_path):
    apsis_export.convert(TINY, tmp_path, format="jsonl")
    lines = (tmp_path / "attributes.jsonl").read_text(encoding="utf-8").splitlines()
    got = [json.loads(line, parse_float=Decimal) for line in lines]
    want = [r for r in apsis_export.read(TINY) if isinstance(r, Attribute)]
    assert [(g["attribute_id"], g["value"], g["value_type"]) for g in got] == [
        (r.attribute_id, r.value, r.value_type) for r in want
    ]
    assert "Zoë" in lines[1] and "\\u" not in lines[1]  # UTF-8, no ASCII escaping
    assert '"value":1234.50' in "".join(lines)  # digits as written
    events = [
        json.loads(line) for line in (tmp_path / "events.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert events[0]["source_event_time"] == "2024-05-01T12:00:00.123Z"
    assert events[2]["source_event_time"] is None
    assert events[0]["data"] == {"url": "https://example.com/?a=1&b=ü", "campaignId": 7, "price": 19.9}
    extras = [
        json.loads(line) for line in (tmp_path / "extras.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert extras[-1] == {
        "profile_key": None,
        "section_id": None,
        "key": "/metadata",
        "value": {
            "exportedAt": "2024-05-02T00:00:00Z",
            "note": "hand-written sample: every feature of the format",
        },
    }


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_asked_for_empty_table_still_gets_a_file(tmp_path, write_export, fmt):
    path = write_export({"profiles": {"p": {"sections": {"s": {"attributes": {"a": {"value": 1}}}}}}})
    summary = apsis_export.convert(path, tmp_path, format=fmt, tables=["events", "extras"])
    assert summary.rows == {"events": 0, "extras": 0}
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file() and not p.name.startswith("export")) == [
        f"events.{fmt}",
        f"extras.{fmt}",
    ]
    if fmt == "parquet":
        assert pq.read_table(tmp_path / "events.parquet").schema.names == list(
            apsis_export.TABLES["events"].column_names
        )
    elif fmt == "csv":
        assert (tmp_path / "events.csv").read_bytes() == ",".join(
            f'"{n}"' for n in apsis_export.TABLES["events"].column_names
        ).encode() + b"\r\n"
    else:
        assert (tmp_path / "events.jsonl").read_bytes() == b""


def test_extras_appear_only_when_unknown_keys_occur(tmp_path, write_export):
    plain = write_export({"profiles": {"p": {"sections": {}}}})
    assert sorted(apsis_export.convert(plain, tmp_path / "a").outputs) == ["attributes", "events"]
    assert sorted(apsis_export.convert(TINY, tmp_path / "b").outputs) == ["attributes", "events", "extras"]
    summary = apsis_export.convert(TINY, tmp_path / "c", tables=["attributes"])
    assert sorted(summary.outputs) == ["attributes"] and summary.extras == 3


def test_dedupe_drops_repeated_correlation_ids_within_profile_and_section(tmp_path, write_export):
    ev = lambda cid, t: {"correlationId": cid, "typeId": "1", "createdAt": t}  # noqa: E731
    path = write_export(
        {
            "p": {
                "s1": {"events": [ev("a", 1), ev("a", 2), ev(None, 3), ev(None, 4)]},
                "s2": {"events": [ev("a", 5)]},
            },
            "q": {"s1": {"events": [ev("a", 6)]}},
        }
    )
    summary = apsis_export.convert(path, tmp_path, format="jsonl", dedupe=True)
    kept = [
        json.loads(line)["created_at"][-6:] for line in (tmp_path / "events.jsonl").read_text().splitlines()
    ]
    assert kept == ["0.001Z", "0.003Z", "0.004Z", "0.005Z", "0.006Z"]
    assert summary.duplicate_events == 1 and summary.rows["events"] == 5
    assert apsis_export.convert(path, tmp_path / "all", format="jsonl").rows["events"] == 6


def test_parquet_row_groups_are_full_whatever_the_batch_size(tmp_path, monkeypatch):
    monkeypatch.setattr(_parquet, "ROW_GROUP_ROWS", 200)
    monkeypatch.setattr(apsis_export._pipeline, "BATCH_ROWS", 37)
    summary = apsis_export.convert(SAMPLE_DATA / "small.json", tmp_path, tables=["attributes"])
    meta = pq.ParquetFile(tmp_path / "attributes.parquet").metadata
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert sum(sizes) == summary.rows["attributes"] and len(sizes) >= 3
    assert all(n == 200 for n in sizes[:-1]) and 0 < sizes[-1] <= 200


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_failed_run_leaves_nothing_behind(tmp_path, fmt):
    data = (SAMPLE_DATA / "small.json").read_bytes()
    out = tmp_path / "out"
    out.mkdir()
    (out / f"events.{fmt}").write_bytes(b"an earlier finished file")
    with pytest.raises(InputError):
        apsis_export.convert(__import__("io").BytesIO(data[: len(data) * 3 // 4]), out, format=fmt)
    assert sorted(p.name for p in out.iterdir()) == [f"events.{fmt}"]  # no partial file, no .part
    assert (out / f"events.{fmt}").read_bytes() == b"an earlier finished file"


def test_a_sink_failing_mid_run_aborts_every_sink(tmp_path):
    class Exploding(FileSink):
        extension = "boom"

        def _open(self, path):
            self._f = open(path, "w")

        def write(self, records):
            if any(isinstance(r, Event) for r in records):
                raise SinkError("disk full (simulated)")
            self._f.write("x")

        def _finish(self):
            self._f.close()

        def _discard(self):
            self._f.close()

    apsis_export.register_sink("boom", Exploding)
    try:
        with pytest.raises(SinkError, match="disk full"):
            apsis_export.convert(TINY, tmp_path, format="boom")
        assert list(tmp_path.iterdir()) == []
    finally:
        sinks_module._registry.pop("boom")


def test_interrupted_while_a_sink_opens_leaves_nothing(tmp_path):
    """Ctrl-C can arrive after a sink created its file but before anyone holds the sink."""

    class Interrupted(FileSink):
        extension = "int"

        def _open(self, path):
            self._f = open(path, "w")
            if self.table.name == "events":  # the second table: attributes is open already
                raise KeyboardInterrupt

        def write(self, records):
            pass

        def _finish(self):
            self._f.close()

        def _discard(self):
            self._f.close()

    apsis_export.register_sink("int", Interrupted)
    try:
        with pytest.raises(KeyboardInterrupt):
            apsis_export.convert(TINY, tmp_path, format="int")
        assert list(tmp_path.iterdir()) == []
    finally:
        sinks_module._registry.pop("int")


def test_unknown_format_names_the_choices():
    with pytest.raises(SinkError, match="unknown format 'xlsx'; available: csv, jsonl, parquet"):
        apsis_export.get_sink("xlsx")


def test_third_party_sink_is_found_through_its_entry_point(tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "plugin_sink-1.0.dist-info").mkdir(parents=True)
    (site / "plugin_sink-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: plugin-sink\nVersion: 1.0\n"
    )
    (site / "plugin_sink-1.0.dist-info" / "entry_points.txt").write_text(
        "[apsis_export.sinks]\nkeys = plugin_sink:KeysSink\n"
    )
    (site / "plugin_sink.py").write_text(
        textwrap.dedent("""
        from apsis_export import FileSink

        class KeysSink(FileSink):
            extension = "keys.txt"
            def _open(self, path): self._f = open(path, "w")
            def write(self, records): self._f.writelines(f"{r.profile_key}\\n" for r in records)
            def _finish(self): self._f.close()
            def _discard(self): self._f.close()
    """)
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(sinks_module, "_entry_points_loaded", False)
    monkeypatch.setattr(sinks_module, "_registry", dict(sinks_module._registry))
    assert "keys" in apsis_export.sink_names()
    apsis_export.convert(TINY, tmp_path / "out", format="keys", tables=["attributes"])
    assert (tmp_path / "out" / "attributes.keys.txt").read_text().splitlines()[-1] == "bob-17"
    sys.modules.pop("plugin_sink", None)


def test_progress_callback_reaches_the_end(tmp_path):
    seen = []
    summary = apsis_export.convert(SAMPLE_DATA / "small.json.gz", tmp_path, progress=seen.append)
    last = seen[-1]
    assert last.bytes_read == last.total_bytes == (SAMPLE_DATA / "small.json.gz").stat().st_size
    assert last.bytes_json == summary.bytes_json == (SAMPLE_DATA / "small.json").stat().st_size
    assert (
        last.profiles
        == summary.profiles
        == sum(1 for p in apsis_export.read_profiles(SAMPLE_DATA / "small.json") if p.key)
    )
    assert last.rows == sum(summary.rows.values())


def test_output_directory_that_is_a_file_is_a_sink_error(tmp_path):
    blocker = tmp_path / "out"
    blocker.write_text("not a directory")
    with pytest.raises(SinkError, match="cannot create output directory"):
        apsis_export.convert(TINY, blocker)


def test_vectorised_iso_times_equal_the_scalar_ones():
    from apsis_export._encode import iso_millis, iso_millis_array

    values = [
        None,
        0,
        -1,
        999,
        1000,
        1714564800123,
        -62135596800000,
        253402300799999,
        951782400000,
        4107542399999,
    ]
    assert iso_millis_array(values).to_pylist() == [iso_millis(v) for v in values]


def test_background_writer_runs_calls_in_order_and_raises_the_first_error():
    from apsis_export.sinks._background import BackgroundWriter

    done: list[int] = []
    writer = BackgroundWriter()
    for n in range(5):
        writer.submit(done.append, n)
    writer.drain()
    assert done == [0, 1, 2, 3, 4]

    def fail():
        raise OSError(28, "No space left on device")

    writer.submit(fail)  # a later call then meets the error in the caller's thread
    with pytest.raises(OSError, match="No space left"):
        writer.submit(done.append, 5)
        writer.drain()
    writer.stop()  # safe after the error, and twice
    writer.stop()


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_an_error_on_the_writer_thread_fails_the_run_and_leaves_nothing(tmp_path, monkeypatch, fmt):
    from apsis_export.sinks import _background

    submit = _background.BackgroundWriter.submit
    calls = []

    def failing_submit(self, call, *args, **kwargs):
        calls.append(call)

        def fail(*_args, **_kwargs):
            raise OSError(28, "No space left on device")

        return submit(self, fail if len(calls) == 2 else call, *args, **kwargs)

    monkeypatch.setattr(_background.BackgroundWriter, "submit", failing_submit)
    monkeypatch.setattr(_parquet, "ROW_GROUP_ROWS", 100)  # many row groups from the sample
    monkeypatch.setattr(apsis_export._pipeline, "BATCH_ROWS", 100)
    out = tmp_path / "out"
    with pytest.raises(SinkError, match=f"cannot write {out / 'events'}.{fmt}: No space left"):
        apsis_export.convert(SAMPLE_DATA / "small.json.gz", out, format=fmt, jobs=1)
    assert len(calls) >= 2
    assert list(out.iterdir()) == []
