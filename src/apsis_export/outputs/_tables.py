"""The sinks of an output directory: a file per table (any format), or a Parquet dataset
per table (hive partitions, rotation), each staged by :class:`Output`.
"""

from __future__ import annotations

from typing import Any, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from .._records import Record
from .._schema import Table
from ..sinks import Sink, arrow_batcher
from ..sinks._parquet import ROW_GROUP_ROWS
from ._feed import BatchFeed
from ._output import Output

#: The column events may be partitioned by besides their own: the UTC date of created_at.
CREATED_DATE = "created_date"
#: Dataset files open at once per table (pyarrow closes the least recently used one beyond it,
#: and that partition's next rows start a new file): bounds memory whatever the partitions.
MAX_OPEN_FILES = 32


class StagedFile:
    """A file sink whose file, once closed, the output stages for the commit."""

    def __init__(self, sink: Sink, output: Output, relative: str):
        self._sink, self._output, self._relative = sink, output, relative

    def write(self, records: Sequence[Record]) -> None:
        self._sink.write(records)

    def write_encoded(self, payload: Any) -> None:
        self._sink.write_encoded(payload)

    def drain(self) -> None:
        drain = getattr(self._sink, "drain", None)
        if drain is not None:
            drain()

    def close(self) -> None:
        self._sink.close()
        self._output.file_done(self._relative)

    def abort(self) -> None:
        self._sink.abort()


def partition_columns(table: Table, partition_by: Sequence[str]) -> list[str]:
    """The columns of ``partition_by`` that ``table`` has (created_date where it has created_at)."""
    names = set(table.column_names)
    return [c for c in partition_by if c in names or (c == CREATED_DATE and "created_at" in names)]


class DatasetSink:
    """One table as a Parquet dataset: hive partitions by ``partition_by`` (the columns this
    table has), at most ``max_rows_per_file`` rows a file, files named ``<input>-<n>.parquet``;
    written by pyarrow's dataset writer from our batches (see :class:`BatchFeed`)."""

    def __init__(self, table: Table, name: str, output: Output, partition_by: Sequence[str],
                 max_rows_per_file: int | None):
        schema, self._batch = arrow_batcher("parquet", table)
        columns = partition_columns(table, partition_by)
        self._add_date = CREATED_DATE in columns and CREATED_DATE not in schema.names
        if self._add_date:
            schema = schema.append(pa.field(CREATED_DATE, pa.date32()))
        partitioning = ds.partitioning(pa.schema([schema.field(c) for c in columns]), flavor="hive") if columns else None
        filesystem, base_dir = output.dataset_dir(name)
        group_rows = min(ROW_GROUP_ROWS, max_rows_per_file or ROW_GROUP_ROWS)
        written: list[str] = []
        self._written, self._output = written, output

        def write(reader: pa.RecordBatchReader) -> None:
            ds.write_dataset(
                reader, base_dir, format="parquet", filesystem=filesystem, partitioning=partitioning,
                basename_template=f"{output.stem}-{{i}}.parquet",
                file_options=ds.ParquetFileFormat().make_write_options(compression="zstd"),
                max_open_files=MAX_OPEN_FILES, max_rows_per_file=max_rows_per_file or 0,
                max_rows_per_group=group_rows, min_rows_per_group=group_rows, preserve_order=True,
                existing_data_behavior="overwrite_or_ignore", create_dir=output.location.is_local,
                file_visitor=lambda file: written.append(file.path))

        self._feed = BatchFeed(schema, write, output.location.show(name))

    def write(self, records: Sequence[Record]) -> None:
        if records:
            self.write_encoded(self._batch(records))

    def write_encoded(self, batch: pa.RecordBatch) -> None:
        if self._add_date:
            batch = batch.append_column(CREATED_DATE, pc.cast(batch.column("created_at"), pa.date32()))
        self._feed.put(batch)

    def close(self) -> None:
        self._feed.finish()
        self._output.dataset_done(self._written)

    def abort(self) -> None:
        self._feed.abort()
