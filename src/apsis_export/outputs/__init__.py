"""Outputs: where a conversion's tables go, and the one rule that makes them appear whole.

A table becomes a file in the output directory (any format), a Parquet dataset
(``partition_by``: hive partitions; ``max_rows_per_file``: rotation), or a Delta table
(format ``delta``). The output directory is a local path, a URI (``s3://``, ``gs://``,
``abfs://`` through pyarrow; any fsspec protocol when fsspec is installed) or a path on a
``filesystem`` object. Files are staged under a hidden directory and moved to their final
names when the run completes (:class:`Output`); ``if_exists`` says what happens to a file
already there. Outputs know filesystems and table formats, nothing about JSON.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from .._errors import OptionsError
from .._modes import IfExists
from .._schema import Table
from ..sinks import FileSink, Sink, get_sink, sink_names
from ._dataset import CREATED_DATE, DatasetSink, partition_columns
from ._filesystems import Location, is_uri, locate
from ._output import FILE_MODE, STAGING_PREFIX, Output, dataset_files, output_stem
from ._tables import StagedFile, named_as_final

#: Table formats written by outputs rather than by a file sink; their batches are Parquet's.
TABLE_FORMATS = ("delta",)


def format_names() -> list[str]:
    """Every format a conversion can write: the sinks' and the table formats."""
    return sorted({*sink_names(), *TABLE_FORMATS})


def batch_format(format: str) -> str:
    """The sink format whose batches ``format`` is written from."""
    return "parquet" if format in TABLE_FORMATS else format


_PARQUET_ONLY = "partitions and --max-rows-per-file write Parquet datasets: use --to parquet"


def check_dataset_format(
    format: str, *, partition_by: Sequence[str] = (), max_rows_per_file: int | None = None
) -> None:
    """Refuse a format (or its options) a dataset of many exports cannot be written in, before
    any input is read."""
    if format == "delta":
        raise OptionsError(
            "many inputs write a Parquet, CSV or JSONL dataset per table, not Delta tables: their "
            "workers would commit to each table at once, which Delta allows only with a lock "
            "provider on object stores; convert each input with --to delta in turn"
        )
    if format != "parquet" and not getattr(get_sink(format), "accepts_constants", False):
        raise OptionsError(
            f"many inputs write a dataset per table whose rows carry an export column, which the "
            f"{format} format does not write: use --to parquet, csv or jsonl"
        )
    if format != "parquet" and (partition_by or max_rows_per_file):
        raise OptionsError(_PARQUET_ONLY)


def open_output(
    out: str | os.PathLike[str],
    *,
    filesystem: Any = None,
    if_exists: IfExists | str | None = None,
    source: Any = None,
    file_mode: int = FILE_MODE,
) -> Output:
    """The output directory ``out`` (see the module doc), for the files of ``source``."""
    return Output(locate(out, filesystem), if_exists=if_exists, stem=output_stem(source), file_mode=file_mode)


def table_opener(
    output: Output,
    format: str,
    tables: dict[str, Table],
    *,
    partition_by: Sequence[str] = (),
    max_rows_per_file: int | None = None,
    constants: Mapping[str, str] | None = None,
) -> Callable[[str, Table], Sink]:
    """A function that opens the sink of a table in ``output``: a staged file, a dataset or a
    Delta table. ``tables`` (name: Table) are the run's tables, to check ``partition_by``.
    ``constants`` (column: value, e.g. the ``export`` of a dataset many exports share) make
    every table a dataset whose rows carry these columns: Parquet (partitions and rotation
    too), or one file of this input in the table's directory (CSV, JSONL)."""
    partition_by = list(partition_by)
    constants = dict(constants or {})
    if constants:
        check_dataset_format(format, partition_by=partition_by, max_rows_per_file=max_rows_per_file)
    if constants and format != "parquet":
        writes_constants = cast("type[FileSink]", get_sink(format))  # its accepts_constants is checked

        def open_dataset_file(name: str, table: Table) -> Sink:
            relative, staged, final = output.dataset_file(name, writes_constants.extension)
            with named_as_final(staged, final):
                sink = writes_constants(staged, table, constants=constants)
            return StagedFile(sink, output, relative, staged, final)

        return open_dataset_file
    if partition_by or max_rows_per_file or constants:
        if format != "parquet":
            raise OptionsError(_PARQUET_ONLY)
        if max_rows_per_file is not None and max_rows_per_file < 1:
            raise OptionsError("max_rows_per_file must be at least 1")
        offered = {
            *constants,
            *(c for table in tables.values() for c in partition_columns(table, partition_by)),
        }
        missing = [c for c in partition_by if c not in offered]
        if missing:
            columns = sorted({*constants, *(c for t in tables.values() for c in t.column_names)})
            raise OptionsError(
                f"no table has a column {missing[0]!r} to partition by; the tables' columns are "
                f"{', '.join(columns)} (and {CREATED_DATE} for events)"
            )

        def open_dataset(name: str, table: Table) -> Sink:
            filesystem, base_dir = output.dataset_dir(name)
            return DatasetSink(
                table,
                filesystem,
                base_dir,
                output.stem,
                partition_by=partition_by,
                max_rows_per_file=max_rows_per_file,
                constants=constants,
                done=output.dataset_done,
            )

        return open_dataset
    if format == "delta":
        from ._delta import DeltaSink

        return lambda name, table: DeltaSink(table, name, output)
    factory = get_sink(format)

    def open_file(name: str, table: Table) -> Sink:
        relative = f"{name}.{factory.extension}"
        staged, final = output.local_file(name, relative), output.outputs[name]
        with named_as_final(staged, final):
            sink = factory(staged, table)
        return StagedFile(sink, output, relative, staged, final)

    return open_file


__all__ = [
    "CREATED_DATE",
    "FILE_MODE",
    "STAGING_PREFIX",
    "TABLE_FORMATS",
    "Location",
    "Output",
    "batch_format",
    "check_dataset_format",
    "dataset_files",
    "format_names",
    "is_uri",
    "locate",
    "open_output",
    "output_stem",
    "table_opener",
]
