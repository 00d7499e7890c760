"""Parquet: zstd, a schema fixed at open, row groups of ROW_GROUP_ROWS rows (fewer
for a table of more than 4 x NARROW_COLUMNS columns, see _group_rows), or of about
ROW_GROUP_BYTES where the values are big.

Batches are buffered until a row group is full, so small batches never make
small row groups.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow.fs import LocalFileSystem

from .._encode import json_array, value_texts
from .._schema import BOOLEAN, DATE, DECIMAL, INTEGER, JSON, STRING, TIMESTAMP, VALUE
from .._types import DECIMAL_PRECISION
from . import FileSink
from ._background import BackgroundWriter
from ._columns import ArrowSink, ArrowType, ColumnEncoder, NativeEncoder

#: Rows per row group of the long tables. A row group is written on the sink's thread while
#: the next one fills, so two of them per table are in memory at the peak. 64k rows reach that
#: steady state on small files already: the CI check (50 vs 200 MB) saw 201 -> 238 MB (+18%)
#: with 128k rows and 200 -> 204 MB with 64k. The cost: files about 19% larger (a dictionary
#: per row group; 1 GB export: 119 vs 100 MB), at the same speed (session 3).
ROW_GROUP_ROWS = 64 * 1024
#: A wide table's row groups hold this many times the values of a narrow one's. The writer
#: keeps about 0.9 KB of footer per column and row group until it closes, so footer memory
#: grows with (columns x row groups) while buffer memory grows with values per row group:
#: on the 478-column named profiles table of a generated export (plus split events) peak RSS
#: was 356 / 364 / 370 MB at 0.3 / 1 / 2 GB with a factor of 4 (of 128k rows), against
#: 270 / 288 / 317 MB with 1 (README, "Wide layout and typed values"). 8 x 64k rows keeps
#: those row groups as they were measured.
WIDE_GROUP_FACTOR = 8
#: Bytes of Arrow data at which the batches waiting are written as row groups, however few
#: their rows: big values (events with 20 KB of data) must not make a 64k-row group of 1.3 GB.
ROW_GROUP_BYTES = 64 * 1024 * 1024

_ARROW_TYPES: dict[str, ArrowType] = {
    BOOLEAN: pa.bool_(),
    STRING: pa.string(),
    VALUE: pa.string(),
    JSON: pa.string(),
    TIMESTAMP: pa.timestamp("ms", tz="UTC"),
    INTEGER: pa.int64(),
    DATE: pa.date32(),
    DECIMAL: lambda column: pa.decimal128(DECIMAL_PRECISION, column.scale),
}
_ENCODERS: dict[str, ColumnEncoder] = {
    BOOLEAN: None,
    STRING: None,
    VALUE: value_texts,
    JSON: json_array,
    TIMESTAMP: None,
    INTEGER: None,
    DATE: None,
    DECIMAL: None,
}


class ParquetSink(ArrowSink, FileSink):
    extension = "parquet"
    arrow_types = _ARROW_TYPES
    encoders = _ENCODERS
    native_encoders: ClassVar[dict[str, NativeEncoder]] = {
        TIMESTAMP: lambda millis: millis.view(_ARROW_TYPES[TIMESTAMP])  # int64 ms
    }

    def _open(self, path: Path) -> None:
        self._schema = self._open_batches()
        # The stream ParquetWriter opens for a path, but the sink's own: closed even when the
        # writer's close fails (a full disk), so an aborted file's space is freed at once.
        self._file = LocalFileSystem().open_output_stream(str(path), compression=None)
        try:
            self._writer = pq.ParquetWriter(self._file, self._schema, compression="zstd")
        except BaseException:
            self._file.close()
            raise
        self._background = BackgroundWriter()  # row groups are encoded and compressed on its thread
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = self._pending_bytes = 0
        self._group_rows = min(ROW_GROUP_ROWS, self.table.scaled_rows(WIDE_GROUP_FACTOR * ROW_GROUP_ROWS))

    def write_encoded(self, batch: pa.RecordBatch) -> None:
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        self._pending_bytes += batch.nbytes
        if self._pending_rows >= self._group_rows or self._pending_bytes >= ROW_GROUP_BYTES:
            self._flush(final=self._pending_bytes >= ROW_GROUP_BYTES)

    def _flush(self, *, final: bool) -> None:
        """Write whole row groups; with ``final`` (the last flush, or ROW_GROUP_BYTES reached),
        the remainder too."""
        table = pa.Table.from_batches(self._pending, schema=self._schema)
        rows = self._group_rows
        cut = len(table) if final else len(table) // rows * rows
        if cut:
            self._background.submit(self._writer.write_table, table.slice(0, cut), row_group_size=rows)
        rest = table.slice(cut)
        self._pending, self._pending_rows, self._pending_bytes = rest.to_batches(), len(rest), rest.nbytes

    def drain(self) -> None:
        """Wait until every row group handed on is written (and the writer thread ends)."""
        self._background.drain()

    def _finish(self) -> None:
        self._flush(final=True)
        self._background.drain()
        try:
            self._writer.close()
        finally:
            self._file.close()

    def _discard(self) -> None:
        self._pending = []
        self._background.stop()
        try:
            self._writer.close()
        finally:
            self._file.close()
