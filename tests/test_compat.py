"""CSV on every pyarrow the floors admit: pyarrow < 26 has no ``eol`` option, and the sink
then ends its lines itself (``_CrlfWriter``). Both writers must give the same bytes."""

from __future__ import annotations

import csv
import io

import pyarrow as pa
import pyarrow.csv as pa_csv
import pytest

from apsis_export.sinks import _csv

TRICKY = ["plain", "", None, 'a "quoted" word', "line\nbreak", "cr\r\nlf", '"\n"', "\n", '""', "tab\t,comma"]


def batch(values: list) -> pa.RecordBatch:
    return pa.record_batch({"text": pa.array(values, pa.string()), "n": pa.array(range(len(values)), pa.int64()),
                            "flag": pa.array([i % 2 == 0 for i in range(len(values))])})


def write_fallback(tmp_path, batches: list[pa.RecordBatch]) -> bytes:
    path = tmp_path / "fallback.csv"
    writer = _csv._CrlfWriter(str(path), batches[0].schema)
    for b in batches:
        writer.write_batch(b)
    writer.close()
    return path.read_bytes()


def test_fallback_ends_records_with_crlf_and_keeps_newlines_in_values(tmp_path):
    data = batch(TRICKY)
    raw = write_fallback(tmp_path, [data.slice(0, 4), data.slice(4)])
    assert raw.startswith(b'"text","n","flag"\r\n')
    rows = list(csv.reader(io.StringIO(raw.decode(), newline=""), lineterminator="\r\n"))
    assert rows[0] == ["text", "n", "flag"]
    assert [row[0] for row in rows[1:]] == ["" if v is None else v for v in TRICKY]
    assert raw.endswith(b"\r\n") and raw.count(b"\r\n") == len(TRICKY) + 1 + 1  # + header, + the one in "cr\r\nlf"
    assert b"line\nbreak" in raw and b'"\n"' in raw  # a LF inside a value is data, left alone


def test_fallback_header_only_for_no_rows(tmp_path):
    assert write_fallback(tmp_path, [batch([])]) == b'"text","n","flag"\r\n'


@pytest.mark.skipif(_csv._OPTIONS is None, reason="this pyarrow has no eol option to compare with")
def test_fallback_matches_arrow_eol(tmp_path):
    data = batch(TRICKY * 3)
    arrow_path = tmp_path / "arrow.csv"
    with pa_csv.CSVWriter(str(arrow_path), data.schema, write_options=_csv._OPTIONS) as writer:
        writer.write_batch(data.slice(0, 7))
        writer.write_batch(data.slice(7))
    assert write_fallback(tmp_path, [data.slice(0, 7), data.slice(7)]) == arrow_path.read_bytes()
