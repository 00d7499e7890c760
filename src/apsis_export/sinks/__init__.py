"""Sinks: where records go. One sink writes one table in one format.

The protocol (see :class:`Sink`) is small on purpose: a sink is opened with the
final path and the table's schema, receives batches of records, and is then
either closed (the file appears, complete, at its path) or aborted (nothing is
left behind). :class:`FileSink` gives a format writer that protocol for free:
it writes to a temporary name beside the final path and renames on close.

Formats are registered by name. ``csv``, ``jsonl`` and ``parquet`` are built in;
other packages add theirs through the ``apsis_export.sinks`` entry-point group
(``name = "package.module:SinkClass"``) or :func:`register_sink`.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from .._errors import SinkError
from .._schema import Table
from ._csv import CsvSink
from ._file import FileSink, Sink, SinkFactory
from ._jsonl import JsonlSink
from ._parquet import ParquetSink

ENTRY_POINT_GROUP = "apsis_export.sinks"


_registry: dict[str, SinkFactory] = {}
_entry_points_loaded = False


def register_sink(name: str, factory: SinkFactory) -> None:
    """Make ``factory`` available as format ``name`` (replacing any earlier one)."""
    if not getattr(factory, "extension", None):
        raise TypeError(f"sink {name!r} needs an 'extension' attribute naming its files")
    _registry[name] = factory


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in _registry:
            try:
                register_sink(ep.name, ep.load())
            except Exception as exc:  # a broken plug-in must not break the built-in formats
                _registry.pop(ep.name, None)
                _broken[ep.name] = f"{type(exc).__name__}: {exc}"


_broken: dict[str, str] = {}


def sink_names() -> list[str]:
    """Names of every available format, built-in and plugged in."""
    _load_entry_points()
    return sorted(_registry)


def get_sink(name: str) -> SinkFactory:
    """The sink factory registered as ``name``; SinkError names the choices if unknown."""
    _load_entry_points()
    if name in _registry:
        return _registry[name]
    if name in _broken:
        raise SinkError(f"sink {name!r} failed to load: {_broken[name]}")
    raise SinkError(f"unknown format {name!r}; available: {', '.join(sink_names())}")


def arrow_batcher(name: str, table: Table):
    """The Arrow schema of ``table`` in format ``name`` (a sink that writes Arrow batches) and a
    function from a batch of records to a RecordBatch of it: the batches that format writes,
    for outputs that take batches (the Arrow stream, datasets, Delta)."""
    from ._columns import make_batcher

    factory = get_sink(name)
    return make_batcher(table, factory.arrow_types, factory.encoders, factory.native_encoders)


register_sink("csv", CsvSink)
register_sink("jsonl", JsonlSink)
register_sink("parquet", ParquetSink)

__all__ = [
    "ENTRY_POINT_GROUP",
    "CsvSink",
    "FileSink",
    "JsonlSink",
    "ParquetSink",
    "Sink",
    "SinkFactory",
    "arrow_batcher",
    "get_sink",
    "register_sink",
    "sink_names",
]
