"""CSV: RFC 4180 (CRLF line ends, ``"`` quoting), UTF-8, a header row.

Written by Arrow's C++ CSV writer, which quotes every text field: an empty
string is ``""`` and null is an empty field, so the two stay apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from .._encode import decimal_text, iso_millis_array, json_array, value_texts
from .._schema import BOOLEAN, DATE, DECIMAL, INTEGER, JSON, STRING, TIMESTAMP, VALUE
from ._background import BackgroundSink, BackgroundWriter
from ._columns import ArrowSink, ArrowType, ColumnEncoder, NativeEncoder, each
from ._file import FileSink

_ARROW_TYPES: dict[str, ArrowType] = {
    BOOLEAN: pa.bool_(),
    STRING: pa.string(),
    VALUE: pa.string(),
    JSON: pa.string(),
    TIMESTAMP: pa.string(),
    INTEGER: pa.int64(),
    DATE: pa.date32(),
    DECIMAL: pa.string(),
}
_ENCODERS: dict[str, ColumnEncoder] = {
    BOOLEAN: None,
    STRING: None,
    VALUE: value_texts,
    JSON: json_array,
    TIMESTAMP: iso_millis_array,
    INTEGER: None,
    DATE: None,
    DECIMAL: each(decimal_text),
}
try:
    _OPTIONS = pa_csv.WriteOptions(include_header=True, quoting_style="needed", eol="\r\n")
except TypeError:  # pyarrow < 26 (25 is the newest for Python 3.10) ends every line with LF
    _OPTIONS = None


class _CrlfWriter:
    """Arrow's CSV writer for a pyarrow without ``eol``: the same text, each line ended by CRLF.

    Every text field is quoted (quotes inside doubled), so a LF ends a line exactly where
    the quotes before it are even in number; a LF inside a value stays as it is. Where no
    value holds one (as many LFs as lines), each LF is replaced at C speed instead.
    """

    def __init__(self, file: pa.NativeFile, schema: pa.Schema):
        self._file = file
        self._options = pa_csv.WriteOptions(include_header=False, quoting_style="needed")
        self._write(schema.empty_table(), pa_csv.WriteOptions(include_header=True, quoting_style="needed"))

    def _write(self, data: pa.RecordBatch | pa.Table, options: pa_csv.WriteOptions) -> None:
        stream = pa.BufferOutputStream()
        pa_csv.write_csv(data, stream, write_options=options)
        text = stream.getvalue().to_pybytes()
        if text.count(b"\n") == data.num_rows + options.include_header:
            self._file.write(text.replace(b"\n", b"\r\n"))
            return
        chars = np.frombuffer(text, np.uint8)
        # 1 inside quotes. (Not logical_xor.accumulate: numpy 1.24 gets it wrong on long arrays.)
        quoted = np.bitwise_xor.accumulate((chars == ord('"')).view(np.uint8))
        self._file.write(
            np.insert(chars, np.flatnonzero((chars == ord("\n")) & (quoted == 0)), ord("\r")).tobytes()
        )

    def write_batch(self, batch: pa.RecordBatch) -> None:
        self._write(batch, self._options)

    def close(self) -> None:
        pass  # the file is the sink's to close


class CsvSink(ArrowSink, BackgroundSink, FileSink):
    extension = "csv"
    accepts_constants = True
    arrow_types = _ARROW_TYPES
    encoders = _ENCODERS
    native_encoders: ClassVar[dict[str, NativeEncoder]] = {}  # the compiled step writes the times as ISO text
    native_iso_times = True

    def _open(self, path: Path) -> None:
        schema = self._open_batches()
        # The sink's own file: closed even when the writer's close fails (a full disk), so
        # that an aborted file's space is freed at once, not when the writer is collected.
        self._file = pa.OSFile(str(path), "wb")
        try:
            self._writer = (
                pa_csv.CSVWriter(self._file, schema, write_options=_OPTIONS)
                if _OPTIONS
                else _CrlfWriter(self._file, schema)
            )
        except BaseException:
            self._file.close()
            raise
        self._background = BackgroundWriter()  # batches are formatted and written on its thread

    def write_encoded(self, batch: pa.RecordBatch) -> None:
        self._background.submit(self._writer.write_batch, self._with_constants(batch))
