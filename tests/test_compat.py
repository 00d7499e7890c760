"""What differs by Python or dependency version gives the same results on each.

- CSV: pyarrow < 26 has no ``eol`` option, and the sink then ends its lines itself
  (``_CrlfWriter``). Both writers must give the same bytes.
- Timestamps: Python 3.10's ``datetime.fromisoformat`` takes no "Z" (and less), so 3.10
  reads them with ``_types._datetime_parts``, which must agree with 3.11's parser.
"""

from __future__ import annotations

import csv
import io
import sys
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.csv as pa_csv
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apsis_export import _types
from apsis_export.sinks import _csv

TRICKY = [
    "plain",
    "",
    None,
    "long " * 40 + '"q"\n' + "tail " * 40,
    'a "quoted" word',
    "line\nbreak",
    "cr\r\nlf",
    '"\n"',
    "\n",
    '""',
    "tab\t,comma",
]


def batch(values: list) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(
        {
            "text": pa.array(values, pa.string()),
            "n": pa.array(range(len(values)), pa.int64()),
            "flag": pa.array([i % 2 == 0 for i in range(len(values))]),
        }
    )


def write_fallback(tmp_path, batches: list[pa.RecordBatch]) -> bytes:
    path = tmp_path / "fallback.csv"
    with pa.OSFile(str(path), "wb") as file:
        writer = _csv._CrlfWriter(file, batches[0].schema)
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
    assert (
        raw.endswith(b"\r\n") and raw.count(b"\r\n") == len(TRICKY) + 1 + 1
    )  # + header, + the one in "cr\r\nlf"
    assert b"line\nbreak" in raw and b'"\n"' in raw  # a LF inside a value is data, left alone


def test_fallback_without_newlines_in_values(tmp_path):
    data = batch([value for value in TRICKY if value is None or "\n" not in value])
    raw = write_fallback(tmp_path, [data, data.slice(1)])
    assert raw.count(b"\r\n") == raw.count(b"\n") == 1 + 2 * len(data) - 1


def test_fallback_header_only_for_no_rows(tmp_path):
    assert write_fallback(tmp_path, [batch([])]) == b'"text","n","flag"\r\n'


@pytest.mark.skipif(_csv._OPTIONS is None, reason="this pyarrow has no eol option to compare with")
@pytest.mark.parametrize("values", [TRICKY * 3, ["a", None, "b c", '"'] * 9], ids=["newlines", "none"])
def test_fallback_matches_arrow_eol(tmp_path, values):
    data = batch(values)
    arrow_path = tmp_path / "arrow.csv"
    with pa_csv.CSVWriter(str(arrow_path), data.schema, write_options=_csv._OPTIONS) as writer:
        writer.write_batch(data.slice(0, 7))
        writer.write_batch(data.slice(7))
    assert write_fallback(tmp_path, [data.slice(0, 7), data.slice(7)]) == arrow_path.read_bytes()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2024-05-01", datetime(2024, 5, 1)),
        ("2024-05-01T12:00", datetime(2024, 5, 1, 12)),
        ("2024-05-01 12:00:30Z", datetime(2024, 5, 1, 12, 0, 30, 0, timezone.utc)),
        ("2024-05-01T12:00:00.1", datetime(2024, 5, 1, 12, 0, 0, 100_000)),
        (
            "2024-05-01T12:00:00.123456789Z",
            datetime(2024, 5, 1, 12, 0, 0, 123_456, timezone.utc),
        ),  # beyond microseconds: cut
        (
            "2024-05-01T12:00:00.123+0200",
            datetime(2024, 5, 1, 12, 0, 0, 123_000, timezone(timedelta(hours=2))),
        ),
        (
            "1969-12-31T23:59:59-00:30",
            datetime(1969, 12, 31, 23, 59, 59, 0, timezone(-timedelta(minutes=30))),
        ),
    ],
)
def test_datetime_parts_reads_what_311_reads(text, expected):
    assert _types._datetime_parts(text) == expected
    assert _types._timestamp(text) == _types._timestamp(expected.isoformat())


@pytest.mark.parametrize(
    "text", ["2024-02-30", "2024-05-01T24:00:00Z", "2024-05-01T12:60Z", "2024-05-01T12:00+24:00"]
)
def test_datetime_parts_refuses_what_311_refuses(text):
    with pytest.raises(ValueError):
        _types._datetime_parts(text)
    with pytest.raises(_types.Mismatch):
        _types._timestamp(text)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="compares with Python 3.11's datetime.fromisoformat")
@settings(max_examples=500, deadline=None)
@given(st.from_regex(_types._TIMESTAMP_TEXT, fullmatch=True))
def test_datetime_parts_agrees_with_fromisoformat(text):
    try:
        expected = datetime.fromisoformat(text)
    except ValueError:
        with pytest.raises(ValueError):
            _types._datetime_parts(text)
    else:
        assert _types._datetime_parts(text) == expected
