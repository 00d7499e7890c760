"""Convert an export into tables: :func:`convert`, the library's main entry point (the CLI
only calls it). It plans the run (:mod:`._pipeline`), opens the output (:mod:`.outputs`) and
runs the pipeline in this process or in ``--jobs`` workers (:mod:`._parallel`).
:func:`fetch_and_convert` converts an export from the API while the client downloads it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from ._engines import DEFAULT_ENGINE, get_engine
from ._errors import OptionsError
from ._metadata import Metadata
from ._modes import EngineName, IfExists, InputLayout, Layout
from ._parallel import convert_in_parallel
from ._pipeline import EXPORT_COLUMN, Collector, ConvertOptions, ConvertSummary, Run, plan_conversion, pump
from ._progress import Progress, ProgressTicker
from ._schema import TABLES
from ._source import Source, SourceLike, open_source
from ._wide import PROFILES, WideSchema
from .fetch import SAVE_MODE, Client, ExportRequest
from .outputs import FILE_MODE, batch_format, open_output, table_opener
from .sinks import get_sink


def convert(
    source: SourceLike | Source,
    out_dir: str | os.PathLike[str],
    *,
    format: str = "parquet",
    tables: Iterable[str] | None = None,
    engine: EngineName | str = DEFAULT_ENGINE,
    input_layout: InputLayout | str = InputLayout.AUTO,
    layout: Layout | str = Layout.LONG,
    split_events: bool = False,
    schema: WideSchema | None = None,
    strict_types: bool = False,
    dedupe: bool = False,
    names: Metadata | None = None,
    jobs: int | None = 1,
    progress: Callable[[Progress], None] | None = None,
    filesystem: Any = None,
    partition_by: Sequence[str] = (),
    max_rows_per_file: int | None = None,
    if_exists: IfExists | str | None = None,
    file_mode: int = FILE_MODE,
    export: str | None = None,
) -> ConvertSummary:
    """Convert an export into one file per table in ``out_dir``; return the summary.

    ``layout`` "long" writes the attributes table (one row per attribute), "wide"
    the profiles table (one row per profile and section, a typed column per
    attribute, a boolean column per tag); both write events. ``tables`` names the
    tables instead (from ``TABLE_NAMES``); by default extras are added when unknown
    keys occur, and tables asked for explicitly always get a file, even when empty.
    ``split_events`` writes one ``events_<type>`` table per event type with the
    ``data`` fields as typed columns. The wide columns come from ``schema``, else
    from ``names`` (every attribute the metadata defines), else from a first pass
    over the file (as do the split events' fields): that needs a path, not a stream.
    With ``names``, tables get name columns and attribute values their declared
    type. A value that does not fit its column's type is left null and counted,
    or raises InputError with ``strict_types``.
    ``jobs`` > 1 decodes, maps and encodes profiles in that many worker processes
    (fast engine, built-in formats); the files hold the same rows in the same order.
    None picks: one process where the compiled step maps the profiles (it keeps two
    cores busy, parsing beside the sink's writer thread, and workers would only add
    copying), else one worker per core.
    ``out_dir`` is a local path or a URI (``s3://``, ``gs://``, ``abfs://``, or any fsspec
    protocol), or a path on ``filesystem`` (pyarrow or fsspec). ``format="delta"`` writes a
    Delta table per table (appending). ``partition_by`` (columns; ``created_date`` too for
    events) and ``max_rows_per_file`` write each table as a Parquet dataset, its files named
    after the input. ``if_exists`` says what happens to a file already there: "error",
    "overwrite" or "skip"; None (the default) overwrites files, as convert always did, and
    appends to Delta tables (the CLI's default is "error", which appends to Delta tables too). Files appear under their final names only when the run completes: on any
    error every output is discarded and the error is raised, no partial files.
    On a local disk the files get ``file_mode`` (owner-only by default: exports hold personal data).
    ``export`` adds an ``export`` column holding it to every row and writes each table as a Parquet
    dataset, its files named after ``export``: one input's part of a dataset many exports share
    (see :func:`apsis_export.convert_many`).
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
    return convert_with(
        source,
        out_dir,
        options,
        format=format,
        jobs=jobs,
        progress=progress,
        filesystem=filesystem,
        partition_by=partition_by,
        max_rows_per_file=max_rows_per_file,
        if_exists=if_exists,
        file_mode=file_mode,
        export=export,
    )


def convert_with(
    source: SourceLike | Source,
    out_dir: str | os.PathLike[str],
    options: ConvertOptions,
    *,
    format: str = "parquet",
    jobs: int | None = 1,
    progress: Callable[[Progress], None] | None = None,
    filesystem: Any = None,
    partition_by: Sequence[str] = (),
    max_rows_per_file: int | None = None,
    if_exists: IfExists | str | None = None,
    file_mode: int = FILE_MODE,
    export: str | None = None,
) -> ConvertSummary:
    """:func:`convert` with its table options checked already, as one :class:`ConvertOptions`
    (how many inputs' workers and :func:`fetch_and_convert` call it)."""
    factory = get_sink(batch_format(format))
    parser = get_engine(options.engine)
    names = options.names
    start = time.perf_counter()  # the summary's time includes a first pass
    plan = plan_conversion(source, options, format=batch_format(format), progress=progress)
    output = open_output(
        out_dir,
        filesystem=filesystem,
        if_exists=if_exists,
        source=source if export is None else export,
        file_mode=file_mode,
    )
    summary = ConvertSummary(format=format, engine=parser.name, rows=dict.fromkeys(plan.outputs, 0))
    collector = Collector(plan, names)
    workers = jobs if jobs is not None else 1 if collector.native is not None else (os.cpu_count() or 1)
    run = None
    try:
        tables_written = {name: plan.table(name) for name in plan.outputs}
        run = Run(
            table_opener(
                output,
                format,
                tables_written,
                partition_by=partition_by,
                max_rows_per_file=max_rows_per_file,
                constants={EXPORT_COLUMN: export} if export is not None else None,
            ),
            plan,
            summary,
        )
        for name in plan.outputs:
            run.sink(name)
        with open_source(source) as src:
            ticker = ProgressTicker(progress, src)
            if workers > 1 and options.engine is EngineName.FAST and _encodes_elsewhere(factory):
                convert_in_parallel(src, options.input_layout, workers, plan, names, collector, run, ticker)
            else:
                for _ in pump(src, parser, options.input_layout, collector, run, ticker):
                    pass
            run.write(collector)
            run.finish()
            output.commit()
            summary.bytes_read, summary.bytes_json = src.bytes_read, src.json_offset
            ticker.tick(summary.profiles, summary.total_rows, final=True)
    except BaseException:
        if run is not None:
            run.abort()
        output.abort()
        raise
    summary.seconds = time.perf_counter() - start
    summary.unknown_ids = len(collector.namer.unknown) if collector.namer else 0
    summary.outputs = dict(output.outputs)
    summary.refused = collector.native.refusals if collector.native is not None else {}
    return summary


def fetch_and_convert(
    client: Client,
    export: str | ExportRequest | Mapping[str, Any] | bytes,
    out_dir: str | os.PathLike[str],
    *,
    save: str | os.PathLike[str] | None = None,
    save_mode: int = SAVE_MODE,
    **options: Any,
) -> ConvertSummary:
    """Convert an export from the API while ``client`` downloads it: same contract as :func:`convert`.

    ``export`` is a poll URL, or a request to send first (see :meth:`Client.request_export`).
    ``options`` are :func:`convert`'s keyword arguments (format, tables, names, jobs,
    progress...). ``save`` also keeps the body, as :meth:`Client.download` does (with
    permissions ``save_mode``, owner-only by default). A cut body restarts the download and
    the conversion (whose outputs were discarded) from the poll URL.

    The wide layout takes its columns from an :class:`ExportRequest`'s attributes and tags
    (named and typed with ``names``: see :func:`request_schema`). Where columns must be
    discovered instead (split events; a poll URL or raw body without ``names``), the body is
    saved to ``save`` first and that file converted: ``save`` is then required.

    >>> with Client(client_id="...", client_secret="...") as api:
    ...     fetch_and_convert(api, ExportRequest(attributes=["10462"]), "tables/")
    """
    rest = dict(options)
    wanted = ConvertOptions.split(rest)  # rest: format, jobs, progress... (convert_with's)
    if wanted.schema is None:
        wanted = replace(wanted, schema=request_schema(export, wanted))
    first_pass = wanted.needs_first_pass
    if first_pass and save is None:
        raise OptionsError(
            "these tables need a first pass over the whole file to find their columns: "
            "save the download (--save FILE / save=) and it is converted from there"
        )
    poll_url = export if isinstance(export, str) else client.request_export(export)
    if first_pass and save is not None:
        client.download(poll_url, save, mode=save_mode)
        return convert_with(save, out_dir, wanted, **rest)
    return client.read_while_downloading(
        poll_url, lambda source: convert_with(source, out_dir, wanted, **rest), save=save, save_mode=save_mode
    )


def request_schema(export: object, options: ConvertOptions) -> WideSchema | None:
    """The wide layout's columns from an export request: its attributes and tags (named and
    typed with ``options.names``, see :meth:`WideSchema.from_request`), when ``export`` is an
    :class:`ExportRequest` that lists some and ``options`` write the profiles table; else None."""
    if not isinstance(export, ExportRequest) or not (export.attributes or export.tags):
        return None
    if PROFILES not in options.wanted:
        return None
    return WideSchema.from_request(export.attributes, export.tags, options.names)


def _encodes_elsewhere(factory) -> bool:
    """True when the format can encode in worker processes (see FileSink.encoder)."""
    encoder = getattr(factory, "encoder", None)
    return encoder is not None and encoder(TABLES["events"]) is not None
