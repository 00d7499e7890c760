"""JSONL: one compact JSON object per line, UTF-8 without ASCII escaping.

Values keep their JSON types (numbers exact); times are ISO 8601 text. Each
column is turned into an Arrow array of JSON texts at once, then Arrow joins
them with the keys (``{"profile_key":`` ... ``}``) into the lines: no Python
work per row.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import orjson
import pyarrow as pa

from .._encode import iso_date, iso_millis_json, json_array
from .._records import Record
from .._schema import BOOLEAN, DATE, DECIMAL, INTEGER, JSON, STRING, TIMESTAMP, VALUE, Table
from . import FileSink
from ._columns import make_columnizer

_dumps = orjson.dumps
_json = partial(json_array, nulls=False)  # numbers exact, whatever their size; None as null
_ENCODERS = {
    BOOLEAN: _json,
    STRING: _json,
    VALUE: _json,
    JSON: _json,
    TIMESTAMP: iso_millis_json,
    INTEGER: _json,
    DECIMAL: _json,  # a number with the digits as written
    DATE: lambda column: pa.array([_dumps(iso_date(days)) for days in column], pa.binary()),
}


def _lines(table: Table) -> Callable[[Sequence[Record]], bytes]:
    """A function from records to their JSON lines, newline-terminated."""
    import pyarrow.compute as pc  # here: loading Arrow's compute kernels costs memory Parquet runs do not need

    columns = make_columnizer(table, _ENCODERS)
    names = [_dumps(name) + b":" for name in table.column_names]
    keys = [pa.scalar(text, pa.large_binary()) for text in [b"{" + names[0]] + [b"," + name for name in names[1:]]]
    end, separator = pa.scalar(b"}\n", pa.large_binary()), pa.scalar(b"", pa.large_binary())

    def lines(records: Sequence[Record]) -> bytes:
        if not records:
            return b""
        parts = []
        for key, column in zip(keys, columns(records)):
            parts += [key, column.cast(pa.large_binary())]
        return _values_bytes(pc.binary_join_element_wise(*parts, end, separator))

    return lines


def _values_bytes(array: pa.Array | pa.ChunkedArray) -> bytes:
    """The values of a large_binary array back to back: the slice of its data buffer they occupy."""
    out = []
    for chunk in array.chunks if isinstance(array, pa.ChunkedArray) else [array]:
        _, offsets, data = chunk.buffers()
        start, end = np.frombuffer(offsets, np.int64)[[chunk.offset, chunk.offset + len(chunk)]].tolist()
        out.append(data.slice(start, end - start).to_pybytes())
    return b"".join(out)


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
