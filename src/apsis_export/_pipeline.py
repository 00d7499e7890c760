"""The pipeline every conversion runs: what it writes (:class:`Plan`), the per-profile work
(:class:`Collector`: dedupe, names, wide rows, batches), and the run that hands full batches
to the sinks and counts them (:class:`Run`, :func:`pump`).

:func:`~apsis_export.convert` runs it in one process or with ``--jobs`` workers
(:mod:`._parallel`), :func:`~apsis_export.to_arrow` with outboxes for sinks (:mod:`._arrow`);
all of them plan with :func:`plan_conversion`. The pipeline knows no file, URI or format
beyond the sink factory it is given.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from functools import partial
from pathlib import Path
from typing import Any

from ._engines import DEFAULT_ENGINE, Engine, _compiled
from ._engines._compiled import NativeColumns
from ._errors import OptionsError
from ._metadata import Metadata, Namer
from ._modes import EngineName, InputLayout, Layout
from ._progress import Progress, ProgressTicker
from ._read import dedupe_events, discover
from ._records import Profile, Record
from ._schema import NAMED_TABLES, TABLES, Table
from ._shape import ColumnsInto
from ._source import Source, SourceLike
from ._types import TypedValues
from ._wide import PROFILES, WideRows, WideSchema
from .sinks import Sink, get_sink
from .sinks._columns import Columns

#: Tables written when none are named, per layout: long (one row per attribute) or
#: wide (one row per profile and section, a column per attribute).
LAYOUT_TABLES = {Layout.LONG: ("attributes", "events"), Layout.WIDE: (PROFILES, "events")}
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


@dataclass(frozen=True, init=False)
class ConvertOptions:
    """What a conversion's tables hold: the options :func:`~apsis_export.convert`,
    :func:`~apsis_export.to_arrow`, :func:`~apsis_export.batches`,
    :func:`~apsis_export.convert_many` and the dlt and Spark sources share, checked here and
    only here (an :class:`~apsis_export.OptionsError` names the option). Modes become their
    enums (plain strings are taken), ``tables`` a tuple without repeats (None: the layout's)."""

    tables: tuple[str, ...] | None
    layout: Layout
    split_events: bool
    schema: WideSchema | None
    strict_types: bool
    dedupe: bool
    names: Metadata | None
    engine: EngineName
    input_layout: InputLayout

    def __init__(
        self,
        *,
        tables: Iterable[str] | None = None,
        layout: Layout | str = Layout.LONG,
        split_events: bool = False,
        schema: WideSchema | None = None,
        strict_types: bool = False,
        dedupe: bool = False,
        names: Metadata | None = None,
        engine: EngineName | str = DEFAULT_ENGINE,
        input_layout: InputLayout | str = InputLayout.AUTO,
    ):
        checked = partial(object.__setattr__, self)  # frozen: each field set once, here
        checked("engine", EngineName(engine))
        checked("input_layout", InputLayout(input_layout))
        checked("layout", Layout(layout))
        if tables is not None:
            tables = tuple(dict.fromkeys(tables))
            unknown = [t for t in tables if t not in TABLE_NAMES]
            if unknown:
                raise OptionsError(f"unknown table {unknown[0]!r}; tables are {', '.join(TABLE_NAMES)}")
        checked("tables", tables)
        checked("split_events", split_events)
        checked("schema", schema)
        checked("strict_types", strict_types)
        checked("dedupe", dedupe)
        checked("names", names)

    @classmethod
    def split(cls, keywords: dict[str, Any]) -> ConvertOptions:
        """The options among a function's keyword arguments (``convert``'s, say), taken out of
        ``keywords``: what is left there is the rest (format, jobs, progress...)."""
        return cls(**{f.name: keywords.pop(f.name) for f in fields(cls) if f.name in keywords})

    @property
    def wanted(self) -> tuple[str, ...]:
        """The tables asked for, or the layout's (extras may be added: see Plan.write_extras)."""
        return self.tables if self.tables is not None else LAYOUT_TABLES[self.layout]

    @property
    def needs_first_pass(self) -> bool:
        """True when a conversion with these options reads the input twice: a first pass
        discovers the wide columns (no metadata) or the split events' data fields."""
        wanted = self.wanted
        return self.schema is None and (
            (self.split_events and "events" in wanted) or (PROFILES in wanted and self.names is None)
        )


def plan_conversion(
    source: SourceLike | Source,
    options: ConvertOptions,
    *,
    format: str = "parquet",
    progress: Callable[[Progress], None] | None = None,
) -> Plan:
    """What a conversion with ``options`` writes in ``format`` (its tables and their columns);
    a first pass over ``source`` when the columns need one (see ConvertOptions.needs_first_pass)."""
    factory = get_sink(format)
    wanted = options.wanted
    split_events = options.split_events and "events" in wanted
    schema = options.schema
    if schema is None and (PROFILES in wanted or split_events):
        if options.names is not None and not options.needs_first_pass:
            schema = WideSchema.from_metadata(options.names)
        else:
            schema = discover(
                source,
                engine=options.engine,
                input_layout=options.input_layout,
                names=options.names,
                event_fields=split_events,
                progress=progress,
            )
    columnar = (
        options.engine is EngineName.FAST
        and getattr(factory, "accepts_columns", False)
        and not options.dedupe
        and options.names is None
        and PROFILES not in wanted
        and not split_events
    )
    return Plan(
        format=format,
        tables=wanted,
        write_extras="extras" in wanted or options.tables is None,
        dedupe=options.dedupe,
        named=options.names is not None,
        schema=schema,
        split_events=split_events,
        strict_types=options.strict_types,
        columnar=columnar,
    )


def pump(
    src: Source, parser: Engine, input_layout: str, collector: Collector, run: Run, ticker: ProgressTicker
) -> Iterator[None]:
    """The run in one process: profiles into the collector, full batches into the run's sinks.
    Yields after each look at the batches, so a consumer of the sinks' batches (the Arrow
    stream) takes them as they are made; the caller writes what is left at the end."""
    src.read_ahead()
    options = {"into": collector.into} if collector.into is not None else {}
    native = collector.native
    summary = run.summary
    since_look = 0  # profiles added since the last look at the batches
    for profile in parser.profiles(src, layout=input_layout, **options):
        collector.add(profile)
        since_look += profile.count
        if (
            since_look >= WRITE_EVERY
            or profile.count > 1  # a run of the compiled step's (see ProfileScan.batch)
            or len(profile.attributes) + len(profile.events) >= BATCH_ROWS
            or (native is not None and max(native.rows) >= BATCH_ROWS)
        ):
            since_look = 0
            run.write(collector, full_only=True, now=src.json_offset)
            ticker.tick(summary.profiles, summary.total_rows)
            yield


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
            return self.wide.profiles_table(named=self.named)
        if self.split_events and name not in TABLES:
            return self.wide.event_table(name, named=self.named)
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
        self.values = TypedValues(strict=plan.strict_types)  # shared by the named and the wide tables
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
            self.profiles += profile.count
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

    def take(self, *, full_only: bool = False, now: int | None = None) -> Iterator[tuple[str, Any]]:
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


class Run:
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
        for name, records in collector.take(full_only=full_only, now=now):
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
