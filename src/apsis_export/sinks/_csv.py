"""CSV: RFC 4180 (CRLF, minimal quoting), UTF-8, a header row; null is an empty field."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

from .._encode import iso_millis, json_text, value_text
from .._records import Record
from .._schema import BOOLEAN, JSON, STRING, TIMESTAMP, VALUE
from . import FileSink
from ._columns import make_columnizer

_ENCODERS = {BOOLEAN: value_text, STRING: None, VALUE: value_text, JSON: json_text, TIMESTAMP: iso_millis}


class CsvSink(FileSink):
    extension = "csv"

    def _open(self, path: Path) -> None:
        self._file = open(path, "w", encoding="utf-8", newline="")
        self._writer = csv.writer(self._file, lineterminator="\r\n")
        self._writer.writerow(self.table.column_names)
        self._columns = make_columnizer(self.table, _ENCODERS)

    def write(self, records: Sequence[Record]) -> None:
        self._writer.writerows(zip(*self._columns(records)))

    def _finish(self) -> None:
        self._file.close()

    def _discard(self) -> None:
        self._file.close()
