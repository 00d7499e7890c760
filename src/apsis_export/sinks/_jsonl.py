"""JSONL: one compact JSON object per line, UTF-8 without ASCII escaping.

Values keep their JSON types (numbers exact); times are ISO 8601 text. Each
column is turned into JSON text at once, then every line is filled into a
template (``{"profile_key":%b,...}``): no dict per row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import orjson

from .._encode import iso_date, iso_millis_column, json_bytes
from .._records import Record
from .._schema import BOOLEAN, DATE, DECIMAL, INTEGER, JSON, STRING, TIMESTAMP, VALUE, Table
from . import FileSink
from ._columns import each, make_columnizer

_dumps = orjson.dumps
_STEP = 512  # records per step of encoding
_ENCODERS = {
    BOOLEAN: each(_dumps),
    STRING: each(_dumps),
    VALUE: each(json_bytes),  # numbers exact, whatever their size
    JSON: each(json_bytes),
    TIMESTAMP: lambda column: list(map(_dumps, iso_millis_column(column))),
    INTEGER: each(_dumps),
    DECIMAL: each(json_bytes),  # a number with the digits as written
    DATE: each(lambda days: _dumps(iso_date(days))),
}


def _lines(table: Table) -> Callable[[Sequence[Record]], bytes]:
    """A function from records to their JSON lines, newline-terminated."""
    columns = make_columnizer(table, _ENCODERS)
    template = b"{" + b",".join(_dumps(name) + b":%b" for name in table.column_names) + b"}"

    def lines(records: Sequence[Record]) -> bytes:
        out = []
        # A little at a time: each small orjson result holds a few KiB of buffer until the
        # line is formatted, so a whole 16k batch of them would hold hundreds of MB.
        for start in range(0, len(records), _STEP):
            out += [template % row for row in zip(*columns(records[start : start + _STEP]))]
        return b"\n".join(out) + b"\n" if out else b""

    return lines


class JsonlSink(FileSink):
    extension = "jsonl"

    @classmethod
    def encoder(cls, table: Table) -> Callable[[Sequence[Record]], bytes]:
        return _lines(table)

    def _open(self, path: Path) -> None:
        self._file = open(path, "wb")
        self._lines = _lines(self.table)

    def write(self, records: Sequence[Record]) -> None:
        self.write_encoded(self._lines(records))

    def write_encoded(self, data: bytes) -> None:
        self._file.write(data)

    def _finish(self) -> None:
        self._file.close()

    def _discard(self) -> None:
        self._file.close()
