"""JSONL: one compact JSON object per line, UTF-8 without ASCII escaping.

Values keep their JSON types (numbers exact); times are ISO 8601 text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .._encode import iso_millis, json_bytes
from .._records import Record
from .._schema import BOOLEAN, JSON, STRING, TIMESTAMP, VALUE
from . import FileSink
from ._columns import make_columnizer

_ENCODERS = {BOOLEAN: None, STRING: None, VALUE: None, JSON: None, TIMESTAMP: iso_millis}


class JsonlSink(FileSink):
    extension = "jsonl"

    def _open(self, path: Path) -> None:
        self._file = open(path, "wb")
        self._columns = make_columnizer(self.table, _ENCODERS)
        self._names = self.table.column_names

    def write(self, records: Sequence[Record]) -> None:
        names = self._names
        lines = [json_bytes(dict(zip(names, row))) for row in zip(*self._columns(records))]
        if lines:
            self._file.write(b"\n".join(lines) + b"\n")

    def _finish(self) -> None:
        self._file.close()

    def _discard(self) -> None:
        self._file.close()
