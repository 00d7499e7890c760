"""CSV: RFC 4180 (CRLF line ends, ``"`` quoting), UTF-8, a header row.

Written by Arrow's C++ CSV writer, which quotes every text field: an empty
string is ``""`` and null is an empty field, so the two stay apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import pyarrow as pa
import pyarrow.csv as pa_csv

from .._encode import iso_millis_column, json_text, value_text
from .._records import Record
from .._schema import BOOLEAN, JSON, STRING, TIMESTAMP, VALUE, Table
from . import FileSink
from ._columns import each, make_batcher

_ARROW_TYPES = {BOOLEAN: pa.bool_(), STRING: pa.string(), VALUE: pa.string(), JSON: pa.string(), TIMESTAMP: pa.string()}
_ENCODERS = {BOOLEAN: None, STRING: None, VALUE: each(value_text), JSON: each(json_text), TIMESTAMP: iso_millis_column}
_OPTIONS = pa_csv.WriteOptions(include_header=True, quoting_style="needed", eol="\r\n")


class CsvSink(FileSink):
    extension = "csv"

    @classmethod
    def encoder(cls, table: Table) -> Callable[[Sequence[Record]], pa.RecordBatch]:
        return make_batcher(table, _ARROW_TYPES, _ENCODERS)[1]

    def _open(self, path: Path) -> None:
        schema, self._batch = make_batcher(self.table, _ARROW_TYPES, _ENCODERS)
        self._writer = pa_csv.CSVWriter(str(path), schema, write_options=_OPTIONS)

    def write(self, records: Sequence[Record]) -> None:
        if records:
            self.write_encoded(self._batch(records))

    def write_encoded(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(batch)

    def _finish(self) -> None:
        self._writer.close()

    def _discard(self) -> None:
        self._writer.close()
