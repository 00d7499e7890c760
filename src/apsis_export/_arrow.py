"""A conversion's tables as Arrow record batches, handed on as they are made.

:func:`to_arrow` gives one table as an :class:`ArrowStream`, an object that speaks the
Arrow PyCapsule interface (``__arrow_c_stream__``): ``duckdb.sql("select ... from t")``,
``pyarrow.RecordBatchReader.from_stream(t)``, ``polars.scan_arrow_c_stream(t)`` and
``pandas.DataFrame.from_arrow(t)`` read it while the export is parsed, a batch at a time,
so memory stays that of a few batches whatever the size of the export, and a query that
stops early (``LIMIT 5``) stops the parsing. :func:`batches` gives every table in one pass.

The batches come from the conversion pipeline itself (plan, collector, the one-process
run of :mod:`._pipeline`): its sinks are replaced by outboxes that make the record batches
the Parquet sink would write, so a stream has the rows and Arrow types of the Parquet file.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import TypeVar

import pyarrow as pa

from ._engines import DEFAULT_ENGINE, get_engine
from ._errors import OptionsError
from ._metadata import Metadata
from ._modes import EngineName, InputLayout, Layout
from ._pipeline import (
    LAYOUT_TABLES,
    Collector,
    ConvertOptions,
    ConvertSummary,
    Plan,
    Run,
    plan_conversion,
    pump,
)
from ._progress import Progress, ProgressTicker
from ._schema import TABLES, Table
from ._source import Source, SourceLike, open_source
from ._wide import WideSchema
from .sinks import arrow_batcher
from .sinks._columns import Batch

#: The batches are made as this format's sink makes them: the same columns and Arrow types.
BATCH_FORMAT = "parquet"

T = TypeVar("T")


class _Outbox:
    """A sink that keeps the record batches it is given until the stream takes them."""

    accepts_columns = True

    def __init__(self, table: Table):
        self.schema, self._batch = arrow_batcher(BATCH_FORMAT, table)
        self.batches: deque[pa.RecordBatch] = deque()

    def write(self, records: Batch) -> None:
        if records:
            self.batches.append(self._batch(records))

    def close(self) -> None:
        pass

    def abort(self) -> None:
        self.batches.clear()


def _one_pass(
    source: SourceLike | Source,
    plan: Plan,
    options: ConvertOptions,
    wanted: Callable[[str], bool],
    progress: Callable[[Progress], None] | None,
) -> Iterator[tuple[str, pa.RecordBatch]]:
    """Read the export once, yielding ``(table, batch)`` for the tables ``wanted`` as batches fill."""
    parser = get_engine(options.engine)
    collector = Collector(plan, options.names)
    outboxes: dict[str, _Outbox] = {}

    def open_outbox(name: str, table: Table) -> _Outbox:
        box = outboxes[name] = _Outbox(table)
        return box

    def taken() -> Iterator[tuple[str, pa.RecordBatch]]:
        for name, box in outboxes.items():
            while box.batches:
                batch = box.batches.popleft()
                if wanted(name):
                    yield name, batch

    summary = ConvertSummary(format="arrow", engine=parser.name)
    run = Run(open_outbox, plan, summary)
    with open_source(source) as src:
        ticker = ProgressTicker(progress, src)
        for _ in pump(src, parser, options.input_layout, collector, run, ticker):
            yield from taken()
        run.write(collector)
        yield from taken()
        ticker.tick(summary.profiles, summary.total_rows, final=True)


def _stepped(steps: Iterator[T]) -> Iterator[T]:
    """``steps``, closed as soon as the consumer stops early (a LIMIT): its source closes then."""
    try:
        yield from steps
    finally:
        steps.close()


def _rereadable(source: SourceLike | Source) -> bool:
    """A path can be read again; stdin, a file object or an HTTP body only once."""
    return isinstance(source, (str, os.PathLike)) and str(source) != "-"


class ArrowStream:
    """One table of an export as an Arrow stream (see :func:`to_arrow`).

    Every consumer (``__arrow_c_stream__``, :meth:`to_reader`) gets a fresh pass over the
    source, so a query can run twice; a source that is not a path (stdin, a file object, an
    HTTP body) can be read by one pass only, and a second one raises OptionsError.
    """

    def __init__(
        self,
        source: SourceLike | Source,
        table: str,
        plan: Plan,
        options: ConvertOptions,
        progress: Callable[[Progress], None] | None = None,
    ):
        self.table = table
        self.schema: pa.Schema = arrow_batcher(BATCH_FORMAT, plan.table(table))[0]
        self._source = source
        self._plan, self._options, self._progress = plan, options, progress
        self._passes = 0

    def __repr__(self) -> str:
        return f"<ArrowStream {self.table}: {len(self.schema)} columns>"

    def __arrow_c_schema__(self):
        return self.schema.__arrow_c_schema__()

    def __arrow_c_stream__(self, requested_schema=None):
        return self.to_reader().__arrow_c_stream__(requested_schema)

    def to_reader(self) -> pa.RecordBatchReader:
        """A pyarrow RecordBatchReader over a new pass (the source is opened at its first batch)."""
        return pa.RecordBatchReader.from_batches(self.schema, self._batches())

    def to_polars(self):
        """A Polars LazyFrame over this stream that reads a fresh pass at each ``collect()``.

        ``polars.scan_arrow_c_stream(t)`` works too, but reads its stream once: a second
        collect of that frame finds it empty. This one (a Polars IO plugin) converts only the
        columns the query uses, filters each batch as it comes and stops the parsing once a
        ``head(n)`` has its rows.
        """
        import polars as pl
        from polars.io.plugins import register_io_source

        def frames(with_columns, predicate, n_rows, batch_size) -> Iterator[pl.DataFrame]:
            wanted = n_rows
            passing = self._batches()
            try:
                for batch in passing:
                    frame = pl.from_arrow(batch.select(with_columns) if with_columns is not None else batch)
                    if predicate is not None:
                        frame = frame.filter(predicate)
                    if wanted is not None:
                        frame = frame.head(wanted)
                        wanted -= len(frame)
                    yield frame
                    if wanted == 0:
                        return
            finally:
                passing.close()

        schema = pl.from_arrow(self.schema.empty_table()).schema
        return register_io_source(frames, schema=schema)

    def _batches(self) -> Iterator[pa.RecordBatch]:
        self._passes += 1
        if self._passes > 1 and not _rereadable(self._source):
            raise OptionsError(
                f"the {self.table} stream of a source that is not a path (stdin, a file object, "
                "an HTTP body) can be read once; save the export to a file to read it again"
            )
        name = self.table
        for _, batch in _stepped(
            _one_pass(self._source, self._plan, self._options, name.__eq__, self._progress)
        ):
            yield batch


def to_arrow(
    source: SourceLike | Source,
    table: str | None = None,
    *,
    engine: EngineName | str = DEFAULT_ENGINE,
    input_layout: InputLayout | str = InputLayout.AUTO,
    layout: Layout | str = Layout.LONG,
    split_events: bool = False,
    schema: WideSchema | None = None,
    strict_types: bool = False,
    dedupe: bool = False,
    names: Metadata | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> ArrowStream:
    """One table of an export as an Arrow stream, read while the export is parsed.

    ``table`` is one of ``TABLE_NAMES`` (default: ``attributes``, or ``profiles`` with
    ``layout="wide"``), or with ``split_events`` an ``events_<type>`` table. The options
    are :func:`convert`'s; the batches hold the rows and Arrow types of that table's Parquet
    file. The columns are known at once (a first pass runs now when the wide layout or
    split events need one, as in convert), the rows on each pass::

        t = apsis_export.to_arrow("export.json.gz")
        duckdb.sql("select attribute_id, count(*) from t group by all")
        pyarrow.RecordBatchReader.from_stream(t)   # or t.to_reader()
        polars.scan_arrow_c_stream(t).collect()
        pandas.DataFrame.from_arrow(t)
        t.to_polars().group_by("attribute_id").len().collect()   # re-runnable, projected
    """
    options = ConvertOptions(
        layout=layout,
        split_events=split_events,
        schema=schema,
        strict_types=strict_types,
        dedupe=dedupe,
        names=names,
        engine=engine,
        input_layout=input_layout,
    )
    return arrow_stream(source, table, options, progress=progress)


def arrow_stream(
    source: SourceLike | Source,
    table: str | None,
    options: ConvertOptions,
    *,
    progress: Callable[[Progress], None] | None = None,
) -> ArrowStream:
    """:func:`to_arrow` with its options checked already (``options.tables`` aside: the
    stream's table is ``table``), as the dlt and Spark sources call it."""
    name = table if table is not None else LAYOUT_TABLES[options.layout][0]
    split = options.split_events and name not in TABLES and name.startswith("events_")
    plan = plan_conversion(
        source,
        replace(options, tables=("events" if split else name,), split_events=split),
        format=BATCH_FORMAT,
        progress=progress,
    )
    if name not in plan.outputs:
        raise OptionsError(
            f"no table {name!r} in this export; its event tables are {', '.join(plan.outputs)}"
        )
    return ArrowStream(source, name, plan, options, progress)


def batches(
    source: SourceLike | Source,
    *,
    tables: Iterable[str] | None = None,
    engine: EngineName | str = DEFAULT_ENGINE,
    input_layout: InputLayout | str = InputLayout.AUTO,
    layout: Layout | str = Layout.LONG,
    split_events: bool = False,
    schema: WideSchema | None = None,
    strict_types: bool = False,
    dedupe: bool = False,
    names: Metadata | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> Iterator[tuple[str, pa.RecordBatch]]:
    """Every table of an export in one pass: ``(table, RecordBatch)`` pairs in the order they
    fill, for scripts that want all tables without reading the export once per table.

    The options are :func:`convert`'s (the extras table comes when unknown keys occur and
    ``tables`` is left to its default); the batches of a table are those of :func:`to_arrow`.
    """
    options = ConvertOptions(
        tables=tables,
        layout=layout,
        split_events=split_events,
        schema=schema,
        strict_types=strict_types,
        dedupe=dedupe,
        names=names,
        engine=engine,
        input_layout=input_layout,
    )
    plan = plan_conversion(source, options, format=BATCH_FORMAT, progress=progress)
    return _stepped(_one_pass(source, plan, options, lambda name: True, progress))
