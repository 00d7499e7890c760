"""CSV: RFC 4180 (CRLF line ends, ``"`` quoting), UTF-8, a header row.

Written by Arrow's C++ CSV writer, which quotes every text field: an empty
string is ``""`` and null is an empty field, so the two stay apart.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv

from .._encode import decimal_text, iso_millis_array, json_array, value_texts
from .._schema import BOOLEAN, DATE, DECIMAL, INTEGER, JSON, STRING, TIMESTAMP, VALUE
from . import FileSink
from ._background import BackgroundWriter
from ._columns import ArrowSink, each

_ARROW_TYPES = {BOOLEAN: pa.bool_(), STRING: pa.string(), VALUE: pa.string(), JSON: pa.string(), TIMESTAMP: pa.string(),
                INTEGER: pa.int64(), DATE: pa.date32(), DECIMAL: pa.string()}
_ENCODERS = {BOOLEAN: None, STRING: None, VALUE: value_texts, JSON: json_array, TIMESTAMP: iso_millis_array,
             INTEGER: None, DATE: None, DECIMAL: each(decimal_text)}
_OPTIONS = pa_csv.WriteOptions(include_header=True, quoting_style="needed", eol="\r\n")


class CsvSink(ArrowSink, FileSink):
    extension = "csv"
    arrow_types = _ARROW_TYPES
    encoders = _ENCODERS
    native_encoders: dict = {}  # the compiled step writes the times as ISO text
    native_iso_times = True

    def _open(self, path: Path) -> None:
        self._writer = pa_csv.CSVWriter(str(path), self._open_batches(), write_options=_OPTIONS)
        self._background = BackgroundWriter()  # batches are formatted and written on its thread

    def write_encoded(self, batch: pa.RecordBatch) -> None:
        self._background.submit(self._writer.write_batch, batch)

    def drain(self) -> None:
        """Wait until every batch handed on is written (and the writer thread ends)."""
        self._background.drain()

    def _finish(self) -> None:
        self._background.drain()
        self._writer.close()

    def _discard(self) -> None:
        self._background.stop()
        self._writer.close()
