"""JSONL: one compact JSON object per line, UTF-8 without ASCII escaping.

Values keep their JSON types (numbers exact); times are ISO 8601 text. Each
column is turned into JSON text at once, then every line is filled into a
template (``{"profile_key":%b,...}``): no dict per row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import orjson

from .._encode import iso_millis_column, json_bytes
from .._records import Record
from .._schema import BOOLEAN, JSON, STRING, TIMESTAMP, VALUE
from . import FileSink
from ._columns import each, make_columnizer

_dumps = orjson.dumps
_ENCODERS = {
    BOOLEAN: each(_dumps),
    STRING: each(_dumps),
    VALUE: each(json_bytes),  # numbers exact, whatever their size
    JSON: each(json_bytes),
    TIMESTAMP: lambda column: list(map(_dumps, iso_millis_column(column))),
}


class JsonlSink(FileSink):
    extension = "jsonl"

    def _open(self, path: Path) -> None:
        self._file = open(path, "wb")
        self._columns = make_columnizer(self.table, _ENCODERS)
        fields = b",".join(_dumps(name) + b":%b" for name in self.table.column_names)
        self._template = b"{" + fields + b"}"

    def write(self, records: Sequence[Record]) -> None:
        if records:
            template = self._template
            lines = [template % row for row in zip(*self._columns(records))]
            self._file.write(b"\n".join(lines) + b"\n")

    def _finish(self) -> None:
        self._file.close()

    def _discard(self) -> None:
        self._file.close()
