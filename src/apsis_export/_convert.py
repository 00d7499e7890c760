"""The pipeline: source → engine → batches → sinks, with progress and a summary.

:func:`convert` is the library's main entry point; the CLI only calls it.
:func:`read` and :func:`read_profiles` give the same records to a script.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._engines import DEFAULT_ENGINE, Engine, _compiled, get_engine
from ._engines._compiled import NativeColumns
from ._errors import OptionsError
from ._metadata import Metadata, Namer
from ._progress import Progress, ProgressTicker
from ._records import Event, Profile, Record
from ._schema import NAMED_TABLES, TABLES, Table
from ._shape import AUTO, ColumnsInto, check_layout
from ._source import Source, SourceLike, open_source
from ._types import TypedValues
from ._wide import PROFILES, WideRows, WideSchema
from .outputs import FILE_MODE, batch_format, open_output, table_opener
from .sinks import Sink, SinkFactory, get_sink
from .sinks._columns import Columns

#: Tables written when none are named, per layout: long (one row per attribute) or
#: wide (one row per profile and section, a column per attribute).
LAYOUTS = {"long": ("attributes", "events"), "wide": (PROFILES, "events")}
DEFAULT_TABLES = LAYOUTS["long"]
#: The column a dataset of many exports adds to every row: which export the row came from.
EXPORT_COLUMN = "export"
#: Every table a conversion can write ("events" becomes one table per type with split_events).
TABLE_NAMES = (*TABLES, PROFILES)
#: Records per table handed to a sink at once (fewer for a wide table: Table.scaled_rows).
BATCH_ROWS = 16 * 1024
#: A table's batch is handed to its sink once the rows in it began this many input bytes ago,
#: whatever their number: values come from the input, so this bounds the values a batch holds
#: however big each one is (events with 20 KB of data each filled 16k-row batches of 320 MB).
#: An ordinary export fills BATCH_ROWS long before, so this changes nothing there.
BATCH_BYTES = 32 * 1024 * 1024
#: Profiles between two looks at whether a batch is full (a look costs more than a profile
#: of the compiled step); a batch's worth of rows waiting is looked at at once (a few big
#: profiles must not pile up).
WRITE_EVERY = 16


@dataclass
class ConvertSummary:
    """What a conversion did. ``str()`` gives the one-line run summary."""

    format: str
    engine: str
    profiles: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    extras: int = 0  # keys the format doc does not name (rows of the extras table)
    duplicate_events: int = 0  # events dropped by dedupe_events
    type_mismatches: int = 0  # values that did not fit their column's type (left null)
    unknown_ids: int = 0  # with names: distinct section/attribute/event IDs the metadata does not define
    bytes_read: int = 0
    bytes_json: int = 0
    seconds: float = 0.0
    outputs: dict[str, Path | str] = field(default_factory=dict)  # a table's file or dataset (a URI remotely)
    #: Profiles the compiled step left to the Python mapping, by reason (same output, slower).
    refused: dict[str, int] = field(default_factory=dict)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def mb_per_s(self) -> float:
        """Throughput in MB (10^6 bytes) of JSON per second."""
        return self.bytes_json / self.seconds / 1e6 if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        rows = ", ".join(
            f"{n:,} {'profile+section rows' if t == PROFILES else t}" for t, n in self.rows.items()
        )
        parts = [f"{self.profiles:,} profiles", rows or "no rows", f"{self.extras:,} unknown keys"]
        if self.duplicate_events:
            parts.append(f"{self.duplicate_events:,} duplicate events dropped")
        if self.unknown_ids:
            parts.append(f"warning: {self.unknown_ids:,} IDs not in the metadata (left unnamed)")
        if self.type_mismatches:
            parts.append(
                f"warning: {self.type_mismatches:,} values did not fit their column's type (left null)"
            )
        parts.append(f"{self.seconds:.2f} s, {self.mb_per_s:.1f} MB/s")
        return "; ".join(parts)


def read_profiles(
    source: SourceLike | Source, *, engine: str = DEFAULT_ENGINE, input_layout: str = AUTO
) -> Iterator[Profile]:
    """Yield each profile of an export with its records, in file order.

    A profile with ``key`` None carries document-level extras (e.g. ``metadata``).
    """
    check_layout(input_layout)
    parser = get_engine(engine)
    with open_source(source) as src:
        yield from parser.profiles(src, layout=input_layout)


def read(
    source: SourceLike | Source, *, engine: str = DEFAULT_ENGINE, input_layout: str = AUTO
) -> Iterator[Record]:
    """Yield every record (:class:`Attribute`, :class:`Event`, :class:`Extra`) of an export, in file order.

    ``source`` is a path, ``"-"`` for stdin, or a binary file object; gzip is detected.
    """
    for profile in read_profiles(source, engine=engine, input_layout=input_layout):
        yield from profile.attributes
        yield from profile.events
        yield from profile.extras


def dedupe_events(events: Sequence[Event]) -> tuple[list[Event], int]:
    """Drop events whose correlation_id repeats within one profile and section.

    ``events`` are one profile's events; events without a correlation_id are kept.
    Returns the kept events and the number dropped.
    """
    seen: set[tuple[str, str]] = set()
    kept = []
    for event in events:
        cid = event.correlation_id
        if cid is not None:
            key = (event.section_id, cid)
            if key in seen:
                continue
            seen.add(key)
        kept.append(event)
    return kept, len(events) - len(kept)


def convert(
    source: SourceLike | Source,
    out_dir: str | os.PathLike[str],
    *,
    format: str = "parquet",
    tables: Iterable[str] | None = None,
    engine: str = DEFAULT_ENGINE,
    input_layout: str = AUTO,
    layout: str = "long",
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
    if_exists: str | None = None,
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
    factory = get_sink(batch_format(format))
    parser = get_engine(engine)
    start = time.perf_counter()  # the summary's time includes a first pass
    plan = plan_conversion(
        source,
        format=batch_format(format),
        tables=tables,
        engine=engine,
        input_layout=input_layout,
        layout=layout,
        split_events=split_events,
        schema=schema,
        strict_types=strict_types,
        dedupe=dedupe,
        names=names,
        progress=progress,
    )
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
        run = _Run(
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
            if workers > 1 and engine == "fast" and _encodes_elsewhere(factory):
                from ._parallel import convert_in_parallel

                convert_in_parallel(src, input_layout, workers, plan, names, collector, run, ticker)
            else:
                for _ in pump(src, parser, input_layout, collector, run, ticker):
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


def plan_conversion(
    source: SourceLike | Source,
    *,
    format: str = "parquet",
    tables: Iterable[str] | None = None,
    engine: str = DEFAULT_ENGINE,
    input_layout: str = AUTO,
    layout: str = "long",
    split_events: bool = False,
    schema: WideSchema | None = None,
    strict_types: bool = False,
    dedupe: bool = False,
    names: Metadata | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> Plan:
    """What :func:`convert` with these options writes (its tables and their columns), checked;
    a first pass over ``source`` when the columns need one (see :func:`needs_first_pass`)."""
    check_layout(input_layout)
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
    factory = get_sink(format)
    explicit = tables is not None
    wanted = list(dict.fromkeys(tables)) if tables is not None else list(LAYOUTS[layout])
    unknown = [t for t in wanted if t not in TABLE_NAMES]
    if unknown:
        raise ValueError(f"unknown table {unknown[0]!r}; tables are {', '.join(TABLE_NAMES)}")
    split_events = split_events and "events" in wanted
    if schema is None and (PROFILES in wanted or split_events):
        if names is not None and not needs_first_pass(layout, tables, split_events, schema, names):
            schema = WideSchema.from_metadata(names)
        else:
            schema = discover(
                source,
                engine=engine,
                input_layout=input_layout,
                names=names,
                event_fields=split_events,
                progress=progress,
            )
    columnar = (
        engine == "fast"
        and getattr(factory, "accepts_columns", False)
        and not dedupe
        and names is None
        and PROFILES not in wanted
        and not split_events
    )
    return Plan(
        format,
        tuple(wanted),
        "extras" in wanted or not explicit,
        dedupe,
        names is not None,
        schema,
        split_events,
        strict_types,
        columnar,
    )


def pump(
    src: Source, parser: Engine, input_layout: str, collector: Collector, run: _Run, ticker: ProgressTicker
) -> Iterator[None]:
    """The run in one process: profiles into the collector, full batches into the run's sinks.
    Yields after each look at the batches, so a consumer of the sinks' batches (the Arrow
    stream) takes them as they are made; the caller writes what is left at the end."""
    src.read_ahead()
    options = {"into": collector.into} if collector.into is not None else {}
    native = collector.native
    summary = run.summary
    for n, profile in enumerate(parser.profiles(src, layout=input_layout, **options), 1):
        collector.add(profile)
        if (
            n % WRITE_EVERY == 0
            or len(profile.attributes) + len(profile.events) >= BATCH_ROWS
            or (native is not None and max(native.rows) >= BATCH_ROWS)
        ):
            run.write(collector, full_only=True, now=src.json_offset)
            ticker.tick(summary.profiles, summary.total_rows)
            yield


def needs_first_pass(
    layout: str = "long",
    tables: Iterable[str] | None = None,
    split_events: bool = False,
    schema: WideSchema | None = None,
    names: Metadata | None = None,
) -> bool:
    """True when :func:`convert` with these options reads the input twice: a first pass
    discovers the wide columns (no metadata) or the split events' data fields."""
    wanted = list(tables) if tables is not None else list(LAYOUTS.get(layout, ()))
    return schema is None and (
        (split_events and "events" in wanted) or (PROFILES in wanted and names is None)
    )


def discover(
    source: SourceLike | Source,
    *,
    engine: str = DEFAULT_ENGINE,
    input_layout: str = AUTO,
    names: Metadata | None = None,
    event_fields: bool = True,
    progress: Callable[[Progress], None] | None = None,
) -> WideSchema:
    """The wide layout's columns and (``event_fields``) the split events' fields, from a
    first pass over a file (see :meth:`WideSchema.from_report`); ``source`` must be a path."""
    if not isinstance(source, (str, os.PathLike)) or str(source) == "-":
        raise OptionsError(
            "the wide layout and split events need their columns before writing: from a first "
            "pass over a file (a path, not stdin or a stream), or for the wide layout alone "
            "from metadata (--names / names=) or a schema"
        )
    from ._inspect import inspect

    report = inspect(
        source, engine=engine, input_layout=input_layout, event_fields=event_fields, progress=progress
    )
    return WideSchema.from_report(report, names)


def _encodes_elsewhere(factory: SinkFactory) -> bool:
    """True when the format can encode in worker processes (see FileSink.encoder)."""
    encoder = getattr(factory, "encoder", None)
    return encoder is not None and encoder(TABLES["events"]) is not None


@dataclass(frozen=True)
class Plan:
    """What a conversion writes: picklable, so --jobs workers can follow the same plan."""

    format: str
    tables: tuple[str, ...]  # asked for, or the defaults
    write_extras: bool  # the extras table is written (asked for, or tables left to their default)
    dedupe: bool
    named: bool
    schema: WideSchema | None = None  # columns of the profiles and split events tables
    split_events: bool = False
    strict_types: bool = False
    #: The fast engine maps typed profiles straight to the columns of the attributes and events
    #: tables, and sinks get Columns (no per-record work: no dedupe, names, wide or split tables).
    columnar: bool = False

    @property
    def wide(self) -> WideSchema:
        """The schema of the profiles and split events tables: set whenever they are written."""
        if self.schema is None:
            raise ValueError("this plan writes no profiles or split events table")
        return self.schema

    @property
    def outputs(self) -> tuple[str, ...]:
        """The tables asked for, with events split into one table per type when asked."""
        if not self.split_events:
            return self.tables
        out: list[str] = []
        for name in self.tables:
            out += [t.name for t in self.wide.event_tables] if name == "events" else [name]
        return tuple(out)

    def table(self, name: str) -> Table:
        if name == PROFILES:
            return self.wide.profiles_table(self.named)
        if self.split_events and name not in TABLES:
            return self.wide.event_table(name, self.named)
        return (NAMED_TABLES if self.named else TABLES)[name]


class Collector:
    """Per-profile work shared by the main process and --jobs workers: dedupe,
    names, counts, and the records waiting for each table.

    With ``plan.columnar`` the attributes and events wait as :class:`Columns`: the fast
    engine appends typed profiles to them through ``into``, and the records of any other
    profile are appended by :meth:`add`.
    """

    def __init__(self, plan: Plan, names: Metadata | None):
        self.plan = plan
        self.values = TypedValues(plan.strict_types)  # shared by the named and the wide tables
        self.namer = Namer(names, self.values) if names is not None else None
        self.wide = WideRows(plan.schema, self.namer, self.values) if plan.schema is not None else None
        self.native = _native_step(plan)
        self.into = ColumnsInto(native=self.native) if plan.columnar else None
        # Per table: a list of records (or the wide tables' rows), or Columns (see _empty).
        self.records: dict[str, Any] = {name: self._empty(name) for name in plan.outputs}
        if plan.write_extras:
            self.records.setdefault("extras", [])
        self.batch_rows = {name: plan.table(name).scaled_rows(BATCH_ROWS) for name in self.records}
        # The compiled step's rows are taken when they fill a batch of their own.
        self._native_batch = tuple(self.batch_rows.get(name, BATCH_ROWS) for name in ("attributes", "events"))
        self.profiles = self.extras = self.duplicates = 0
        # Per table (and "native" for the compiled step's rows): the input offset at the first
        # look that saw rows waiting, for BATCH_BYTES (see take).
        self._waiting_since: dict[str, int] = {}

    def take_mismatches(self) -> int:
        """Values that did not fit their column's type since the last call."""
        count, self.values.mismatches = self.values.mismatches, 0
        return count

    def add(self, profile: Profile) -> None:
        records, namer, wide = self.records, self.namer, self.wide
        if self.native is not None and (profile.attributes or profile.events):
            self._take_native()  # its rows come before this profile's
        if profile.key is not None:
            self.profiles += 1
        events = profile.events
        if self.plan.dedupe and events:
            events, dropped = dedupe_events(events)
            self.duplicates += dropped
        if profile.attributes and "attributes" in records:
            records["attributes"].extend(
                namer.attributes(profile.attributes) if namer else profile.attributes
            )
        if PROFILES in records and profile.key is not None and wide is not None:
            records[PROFILES].extend(wide.profiles(profile))
        if events and self.plan.split_events and wide is not None:
            for name, row in wide.events(events):
                records[name].append(row)
        elif events and "events" in records:
            records["events"].extend(namer.events(events) if namer else events)
        if profile.extras:
            self.extras += len(profile.extras)
            if "extras" in records:
                records["extras"].extend(profile.extras)

    def take(self, full_only: bool = False, now: int | None = None) -> Iterator[tuple[str, Any]]:
        """The waiting records per table (only tables with a full batch if ``full_only``), emptied.
        ``now``, the input offset read to: a batch whose rows began waiting BATCH_BYTES before
        it is full too (as seen at the looks, every WRITE_EVERY profiles)."""
        if self.native is not None:
            attribute_rows, event_rows = self.native.rows
            full_attributes, full_events = self._native_batch
            if (attribute_rows or event_rows) and (
                not full_only
                or attribute_rows >= full_attributes
                or event_rows >= full_events
                or self._waited_long("native", now)
            ):
                self._take_native()
        for name, waiting in self.records.items():
            if waiting and (
                not full_only or len(waiting) >= self.batch_rows[name] or self._waited_long(name, now)
            ):
                self.records[name] = self._empty(name)
                self._waiting_since.pop(name, None)
                yield name, waiting

    def _waited_long(self, name: str, now: int | None) -> bool:
        """True when the rows waiting in ``name`` were first seen BATCH_BYTES of input before ``now``."""
        if now is None:
            return False
        return now - self._waiting_since.setdefault(name, now) >= BATCH_BYTES

    def _take_native(self) -> None:
        """Move the compiled step's rows into the batches, after what they hold."""
        if self.native is None:
            return
        since = self._waiting_since.pop("native", None)
        for name, arrays in zip(("attributes", "events"), self.native.take(), strict=True):
            if name in self.records and len(arrays[0]):
                self.records[name].extend_arrays(arrays)
                if since is not None:  # the batch has waited since its oldest rows
                    self._waiting_since[name] = min(self._waiting_since.get(name, since), since)

    def _empty(self, name: str) -> list[Record] | Columns:
        """A new batch for table ``name``: Columns on the columnar path (their lists also set
        in ``into`` unless the compiled step takes the typed profiles)."""
        if self.into is None or name not in ("attributes", "events"):
            return []
        columns = Columns(self.plan.table(name))
        if self.native is None:
            setattr(self.into, name, columns.lists)
        return columns


def _native_step(plan: Plan) -> NativeColumns | None:
    """The compiled step for a columnar plan whose sink takes its arrays, when it is built."""
    if not plan.columnar or not _compiled.AVAILABLE:
        return None
    factory = get_sink(plan.format)
    if getattr(factory, "native_encoders", None) is None:
        return None
    return NativeColumns(
        json=getattr(factory, "native_json", False),
        attributes="attributes" in plan.outputs,
        events="events" in plan.outputs,
        iso_times=getattr(factory, "native_iso_times", False),
    )


class _Run:
    """The open sinks of one conversion, and the summary of what they received.

    ``open_sink(name, table)`` opens the sink of a table when it is first needed: a file
    in the output directory, or (the Arrow stream) an outbox of record batches."""

    def __init__(self, open_sink: Callable[[str, Table], Sink], plan: Plan, summary: ConvertSummary):
        self.open_sink = open_sink
        self.plan = plan
        self.summary = summary
        self.sinks: dict[str, Sink] = {}

    def sink(self, name: str) -> Sink:
        if name not in self.sinks:
            self.sinks[name] = self.open_sink(name, self.plan.table(name))
            self.summary.rows.setdefault(name, 0)
        return self.sinks[name]

    def count(self, collector: Collector) -> None:
        """Move a collector's counts into the summary."""
        summary = self.summary
        summary.profiles += collector.profiles
        summary.extras += collector.extras
        summary.duplicate_events += collector.duplicates
        summary.type_mismatches += collector.take_mismatches()
        collector.profiles = collector.extras = collector.duplicates = 0

    def write(self, collector: Collector, *, full_only: bool = False, now: int | None = None) -> None:
        """Write what the collector holds (only full batches if ``full_only``; ``now``: see
        Collector.take) and count it."""
        self.count(collector)
        for name, records in collector.take(full_only, now):
            self.sink(name).write(records)
            self.summary.rows[name] += len(records)

    def write_encoded(self, name: str, payload: Any, rows: int) -> None:
        self.sink(name).write_encoded(payload)  # type: ignore[attr-defined]  # only formats with an encoder: FileSinks
        self.summary.rows[name] += rows

    def drain(self) -> None:
        """Let sinks that write on a thread of their own finish what they hold and end it."""
        for sink in self.sinks.values():
            drain = getattr(sink, "drain", None)
            if drain is not None:
                drain()

    def finish(self) -> None:
        for sink in self.sinks.values():
            sink.close()

    def abort(self) -> None:
        for sink in self.sinks.values():
            with contextlib.suppress(Exception):  # keep aborting the others; the original error wins
                sink.abort()
