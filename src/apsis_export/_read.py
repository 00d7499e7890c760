"""An export's records for a script (:func:`read`, :func:`read_profiles`), the dedupe rule
(:func:`dedupe_events`), and the first pass that finds the wide layout's columns (:func:`discover`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence

from ._engines import DEFAULT_ENGINE, get_engine
from ._errors import OptionsError
from ._inspect import inspect
from ._metadata import Metadata
from ._modes import EngineName, InputLayout
from ._progress import Progress
from ._records import Event, Profile, Record
from ._source import Source, SourceLike, open_source
from ._wide import WideSchema


def read_profiles(
    source: SourceLike | Source,
    *,
    engine: EngineName | str = DEFAULT_ENGINE,
    input_layout: InputLayout | str = InputLayout.AUTO,
) -> Iterator[Profile]:
    """Yield each profile of an export with its records, in file order.

    A profile with ``key`` None carries document-level extras (e.g. ``metadata``).
    """
    input_layout = InputLayout(input_layout)
    parser = get_engine(engine)
    with open_source(source) as src:
        yield from parser.profiles(src, layout=input_layout)


def read(
    source: SourceLike | Source,
    *,
    engine: EngineName | str = DEFAULT_ENGINE,
    input_layout: InputLayout | str = InputLayout.AUTO,
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


def discover(
    source: SourceLike,
    *,
    engine: EngineName | str = DEFAULT_ENGINE,
    input_layout: InputLayout | str = InputLayout.AUTO,
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
    report = inspect(
        source, engine=engine, input_layout=input_layout, event_fields=event_fields, progress=progress
    )
    return WideSchema.from_report(report, names)
