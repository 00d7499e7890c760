"""JSONL: one compact JSON object per line, UTF-8 without ASCII escaping.

Values keep their JSON types (numbers exact); times are ISO 8601 text. Each
column is turned into an Arrow array of JSON texts at once, then Arrow joins
them with the keys (``{"profile_key":`` ... ``}``) into the lines: no Python
work per row. Constant columns (the ``export`` of a dataset many exports share) are
text the same in every line, written before its closing brace.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import ClassVar

import numpy as np
import orjson
import pyarrow as pa

from .. import _extension
from .._encode import iso_date, iso_millis_json, json_array
from .._schema import BOOLEAN, DATE, DECIMAL, INTEGER, JSON, STRING, TIMESTAMP, VALUE, Table
from ._background import BackgroundSink, BackgroundWriter
from ._columns import Batch, ColumnEncoder, NativeEncoder, constant_fields, make_columnizer
from ._file import FileSink

_dumps = orjson.dumps
#: The join of keys and JSON texts into lines in C (``join_lines`` in _native.c), or None where
#: Arrow's binary_join_element_wise does it.
_join_lines = _extension.native.join_lines if _extension.ENABLED else None
_JOIN_MAX_COLUMNS = _extension.native.JOIN_MAX_COLUMNS if _extension.ENABLED else 0
_json = partial(json_array, nulls=False, large=True)  # numbers exact, whatever their size; None as null
_ENCODERS: dict[str, ColumnEncoder] = {
    BOOLEAN: _json,
    STRING: _json,
    VALUE: _json,
    JSON: _json,
    TIMESTAMP: iso_millis_json,
    INTEGER: _json,
    DECIMAL: _json,  # a number with the digits as written
    DATE: lambda column: pa.array([_dumps(iso_date(days)) for days in column], pa.large_binary()),
}


def _lines(table: Table, end: bytes = b"}\n") -> Callable[[Batch], pa.Buffer | bytes]:
    """A function from a batch (records or Columns) to its JSON lines, each ended by ``end``."""
    import pyarrow.compute as pc  # here: loading Arrow's compute kernels costs memory Parquet runs do not need

    columns = make_columnizer(table, _ENCODERS, JsonlSink.native_encoders)
    names = [_dumps(name) + b":" for name in table.column_names]
    keys = [
        pa.scalar(text, pa.large_binary()) for text in [b"{" + names[0]] + [b"," + name for name in names[1:]]
    ]
    end_scalar, separator = pa.scalar(end, pa.large_binary()), pa.scalar(b"", pa.large_binary())

    key_texts = [key.as_py() for key in keys]

    def part_lines(part: list[pa.Array]) -> pa.Buffer | bytes:
        texts = [
            column.cast(pa.large_binary()) for column in part
        ]  # 64-bit offsets: no size limit on a batch
        if (
            _join_lines is not None and len(texts) <= _JOIN_MAX_COLUMNS
        ):  # the same lines, several times faster
            return _join_lines(
                key_texts, end, [(*text.buffers(), text.offset) for text in texts], len(texts[0])
            )
        pieces = []
        for key, text in zip(keys, texts, strict=True):
            pieces += [key, text]
        joined = pc.binary_join_element_wise(*pieces, end_scalar, separator)
        # The lines back to back: the slice of the result's data they occupy (no copy).
        _, offsets, data = joined.buffers()
        start, stop = np.frombuffer(offsets, np.int64)[[joined.offset, joined.offset + len(joined)]].tolist()
        return data.slice(start, stop - start)

    def lines(records: Batch) -> pa.Buffer | bytes:
        if not records:
            return b""
        parts = [part_lines(part) for part in columns(records)]
        return parts[0] if len(parts) == 1 else b"".join(parts)

    return lines


class JsonlSink(BackgroundSink, FileSink):
    extension = "jsonl"
    accepts_columns = True
    accepts_constants = True
    #: The compiled step writes every text column, times included, as JSON already.
    native_json = True
    native_iso_times = True
    native_encoders: ClassVar[dict[str, NativeEncoder]] = {}

    @classmethod
    def encoder(cls, table: Table) -> Callable[[Batch], pa.Buffer | bytes]:
        return _lines(table)

    def _open(self, path: Path) -> None:
        constant_fields(self.table, self.constants)  # checks their names
        self._constants = b"".join(b"," + _dumps(k) + b":" + _dumps(v) for k, v in self.constants.items())
        self._file = open(path, "wb")
        self._lines = _lines(self.table, self._constants + b"}\n")
        self._background = BackgroundWriter()  # lines are joined (Arrow) and written on its thread

    def write(self, records: Batch) -> None:
        self._background.submit(lambda: self._file.write(self._lines(records)))

    def write_encoded(self, data: pa.Buffer | bytes) -> None:
        if self._constants:  # lines made by --jobs workers, without them: a raw newline only ends a line
            data = bytes(data).replace(b"}\n", self._constants + b"}\n")
        self._background.submit(self._file.write, data)
