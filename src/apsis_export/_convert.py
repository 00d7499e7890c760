"""The pipeline: source → engine → batches → sinks, with progress and a summary.

:func:`convert` is the library's main entry point; the CLI only calls it.
:func:`read` and :func:`read_profiles` give the same records to a script.
"""

from __future__ import annotations

import gc
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from ._engines import DEFAULT_ENGINE, get_engine
from ._progress import Progress, ProgressTicker
from ._errors import SinkError
from ._records import Event, Profile, Record
from ._metadata import Metadata, Namer
from ._schema import NAMED_TABLES, TABLES, Table
from ._shape import AUTO, check_layout
from ._source import Source, SourceLike, open_source
from .sinks import Sink, get_sink

DEFAULT_TABLES = ("attributes", "events")
#: Records per table handed to a sink at once.
BATCH_ROWS = 16 * 1024


@dataclass
class ConvertSummary:
    """What a conversion did. ``str()`` gives the one-line run summary."""

    format: str
    engine: str
    profiles: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    extras: int = 0  # keys the format doc does not name (rows of the extras table)
    duplicate_events: int = 0  # events dropped by dedupe_events
    unknown_ids: int = 0  # with names: distinct section/attribute/event IDs the metadata does not define
    bytes_read: int = 0
    bytes_json: int = 0
    seconds: float = 0.0
    outputs: dict[str, Path] = field(default_factory=dict)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def mb_per_s(self) -> float:
        """Throughput in MB (10^6 bytes) of JSON per second."""
        return self.bytes_json / self.seconds / 1e6 if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        rows = ", ".join(f"{n:,} {t}" for t, n in self.rows.items())
        parts = [f"{self.profiles:,} profiles", rows or "no rows", f"{self.extras:,} unknown keys"]
        if self.duplicate_events:
            parts.append(f"{self.duplicate_events:,} duplicate events dropped")
        if self.unknown_ids:
            parts.append(f"warning: {self.unknown_ids:,} IDs not in the metadata (left unnamed)")
        parts.append(f"{self.seconds:.2f} s, {self.mb_per_s:.1f} MB/s")
        return "; ".join(parts)


def read_profiles(source: SourceLike | Source, *, engine: str = DEFAULT_ENGINE, layout: str = AUTO) -> Iterator[Profile]:
    """Yield each profile of an export with its records, in file order.

    A profile with ``key`` None carries document-level extras (e.g. ``metadata``).
    """
    check_layout(layout)
    parser = get_engine(engine)
    with open_source(source) as src:
        yield from parser.profiles(src, layout=layout)


def read(source: SourceLike | Source, *, engine: str = DEFAULT_ENGINE, layout: str = AUTO) -> Iterator[Record]:
    """Yield every record (:class:`Attribute`, :class:`Event`, :class:`Extra`) of an export, in file order.

    ``source`` is a path, ``"-"`` for stdin, or a binary file object; gzip is detected.
    """
    for profile in read_profiles(source, engine=engine, layout=layout):
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
    layout: str = AUTO,
    dedupe: bool = False,
    names: Metadata | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> ConvertSummary:
    """Convert an export into one file per table in ``out_dir``; return the summary.

    ``tables`` defaults to attributes and events, plus extras when unknown keys
    occur; tables asked for explicitly always get a file, even when empty. With
    ``names``, the attributes and events tables get name columns from that
    metadata. On any error every output is discarded and the error is raised:
    no partial files.
    """
    check_layout(layout)
    factory = get_sink(format)
    parser = get_engine(engine)
    explicit = tables is not None
    wanted = list(dict.fromkeys(tables)) if explicit else list(DEFAULT_TABLES)
    unknown = [t for t in wanted if t not in TABLES]
    if unknown:
        raise ValueError(f"unknown table {unknown[0]!r}; tables are {', '.join(TABLES)}")
    write_extras = "extras" in wanted or not explicit
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SinkError(f"cannot create output directory {out}: {exc.strerror or exc}") from None

    summary = ConvertSummary(format=format, engine=parser.name, rows={t: 0 for t in wanted})
    run = _Run(out, factory, summary, NAMED_TABLES if names is not None else TABLES)
    namer = Namer(names) if names is not None else None
    start = time.perf_counter()
    with _gc_paused():
        try:
            for name in wanted:
                run.sink(name)
            with open_source(source) as src:
                ticker = ProgressTicker(progress, src)
                for profile in parser.profiles(src, layout=layout):
                    if profile.key is not None:
                        summary.profiles += 1
                    events = profile.events
                    if dedupe and events:
                        events, dropped = dedupe_events(events)
                        summary.duplicate_events += dropped
                    if profile.attributes and "attributes" in run.buffers:
                        run.add("attributes", namer.attributes(profile.attributes) if namer else profile.attributes)
                    if events and "events" in run.buffers:
                        run.add("events", namer.events(events) if namer else events)
                    if profile.extras:
                        summary.extras += len(profile.extras)
                        if write_extras:
                            run.add("extras", profile.extras)
                    ticker.tick(summary.profiles, summary.total_rows)
                run.finish()
                summary.bytes_read, summary.bytes_json = src.bytes_read, src.json_offset
                ticker.tick(summary.profiles, summary.total_rows, final=True)
        except BaseException:
            run.abort()
            raise
    summary.seconds = time.perf_counter() - start
    summary.unknown_ids = len(namer.unknown) if namer else 0
    summary.outputs = {name: sink_path for name, sink_path in run.paths.items()}
    return summary


@contextmanager
def _gc_paused():
    """Pause the cyclic garbage collector: a run makes millions of acyclic objects,
    and collections triggered by them cost a third of the run time. Plain
    reference counting still frees everything as it goes."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Run:
    """The open sinks of one conversion and their pending batches."""

    def __init__(self, out: Path, factory, summary: ConvertSummary, tables: dict[str, Table]):
        self.out = out
        self.tables = tables
        self.factory = factory
        self.summary = summary
        self.sinks: dict[str, Sink] = {}
        self.buffers: dict[str, list[Record]] = {}
        self.paths: dict[str, Path] = {}

    def sink(self, name: str) -> None:
        path = self.out / f"{name}.{self.factory.extension}"
        self.sinks[name] = self.factory(path, self.tables[name])
        self.buffers[name] = []
        self.paths[name] = path
        self.summary.rows.setdefault(name, 0)

    def add(self, name: str, records: list) -> None:
        if name not in self.sinks:
            self.sink(name)
        buffer = self.buffers[name]
        buffer.extend(records)
        self.summary.rows[name] += len(records)
        if len(buffer) >= BATCH_ROWS:
            self.sinks[name].write(buffer)
            self.buffers[name] = []

    def finish(self) -> None:
        for name, sink in self.sinks.items():
            if self.buffers[name]:
                sink.write(self.buffers[name])
                self.buffers[name] = []
        for sink in self.sinks.values():
            sink.close()

    def abort(self) -> None:
        for sink in self.sinks.values():
            try:
                sink.abort()
            except Exception:  # keep aborting the others; the original error wins
                pass
