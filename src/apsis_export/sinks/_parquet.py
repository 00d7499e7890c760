"""Parquet: zstd, a schema fixed at open, row groups of ROW_GROUP_ROWS rows (fewer
for a table of more than 4 x NARROW_COLUMNS columns, see _group_rows), or of about
ROW_GROUP_BYTES where the values are big.

Batches are buffered until a row group is full, so small batches never make
small row groups. :func:`parquet_writer` owns the writer's settings, for every Parquet file
the package writes (this sink's, and the datasets' of outputs/_dataset.py).
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
from ._background import BackgroundSink, BackgroundWriter
from ._columns import ArrowSink, ArrowType, ColumnEncoder, NativeEncoder
from ._file import FileSink

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
#: 270 / 288 / 317 MB with 1 (docs/wide-layout.md, "Memory"). 8 x 64k rows keeps
#: those row groups as they were measured.
WIDE_GROUP_FACTOR = 8
#: Bytes of Arrow data at which the batches waiting are written as row groups, however few
#: their rows: big values (events with 20 KB of data) must not make a 64k-row group of 1.3 GB.
ROW_GROUP_BYTES = 64 * 1024 * 1024
#: The writer's settings below were chosen with benchmarks/parquet_settings.py: the encode stage
#: alone (a converted export's tables written from memory), CPU seconds per GB of input and bytes
#: out, on 1 GB generated exports of both shapes (benchmarks/results/session5/parquet-settings.md).
#: zstd's level: level 3 cost 7-18% more CPU for files 0.2-2% smaller.
ZSTD_LEVEL = 1
#: The text columns with statistics: profile_key (rows come profile by profile, so a filter on
#: one key skips the row groups whose min/max leave it out) and the export of a dataset of many
#: (_convert.EXPORT_COLUMN: one value per file). Columns of other types (the times, typed values)
#: keep theirs too: cheap to keep, and what readers filter ranges by. The other text columns get
#: none: every row group holds all their few values (section, attribute and type ids) or
#: mostly distinct ones (values, ids, JSON), so min/max skip nothing, and computing them was
#: 8-16% of the encoding CPU.
TEXT_STATISTICS = frozenset({"profile_key", "export"})
#: Columns without a dictionary: an event's correlation id is unique in a real export, so its
#: dictionary is hashing for nothing until it outgrows its page and the writer falls back to plain
#: (with distinct ids: 10% less encoding CPU and 3% smaller files without it). Attribute values and
#: event data repeat enough to keep theirs: without them the 1 GB export of many short values gave
#: files 9-18% larger at the same CPU.
NO_DICTIONARY = frozenset({"correlation_id"})


def writer_options(schema: pa.Schema) -> dict:
    """The package's ParquetWriter settings for a table of ``schema`` (keyword arguments)."""
    return {
        "compression": "zstd",
        "compression_level": ZSTD_LEVEL,
        "use_dictionary": [name for name in schema.names if name not in NO_DICTIONARY],
        "write_statistics": [
            field.name
            for field in schema
            if field.name in TEXT_STATISTICS or not pa.types.is_string(field.type)
        ],
    }


def parquet_writer(where, schema: pa.Schema) -> pq.ParquetWriter:
    """A ParquetWriter for ``where`` (a path or an output stream) with the package's settings."""
    return pq.ParquetWriter(where, schema, **writer_options(schema))


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


class ParquetSink(ArrowSink, BackgroundSink, FileSink):
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
            self._writer = parquet_writer(self._file, self._schema)
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

    def _finish(self) -> None:
        self._flush(final=True)
        super()._finish()

    def _discard(self) -> None:
        self._pending = []
        super()._discard()
