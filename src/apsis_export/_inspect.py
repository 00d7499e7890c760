"""What is in an export, at parser speed and in flat memory: coverage, counts, time ranges.

Memory grows with the number of distinct sections, attributes, event types and
unknown keys, never with the number of profiles.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._encode import iso_millis
from ._engines import DEFAULT_ENGINE, get_engine
from ._errors import ApsisExportError
from ._files import write_text_whole
from ._metadata import Metadata
from ._modes import EngineName, InputLayout
from ._progress import Progress, ProgressTicker
from ._records import data_fields
from ._report_html import render_html
from ._schema import DECIMAL
from ._shape import _MIN_MS
from ._source import Source, SourceLike, open_source
from ._types import ValueStats


@dataclass
class AttributeStats:
    """One attribute (or tag) of one section: how many profiles have it, with which value types."""

    section_id: str
    attribute_id: str
    profiles: int = 0
    value_types: Counter = field(default_factory=Counter)
    values: ValueStats = field(default_factory=ValueStats)  # the type its values fit (see _types.py)

    @property
    def always_null(self) -> bool:
        """True when every value was null: a tag, or an attribute nobody has filled."""
        return set(self.value_types) == {"null"}


@dataclass
class EventTypeStats:
    """One event type of one section: counts and time ranges (ms since epoch)."""

    section_id: str
    type_id: str
    events: int = 0
    profiles: int = 0
    duplicates: int = 0  # events whose correlationId repeats within a profile+section
    unknown_source_time: int = 0  # sourceEventTime 0 or missing
    first_created_at: int | None = None
    last_created_at: int | None = None
    first_source_event_time: int | None = None
    last_source_event_time: int | None = None
    #: With inspect(event_fields=True): every field path of the events' ``data``
    #: (see _records.data_fields) and the type its values fit.
    fields: dict[tuple[str, ...], ValueStats] = field(default_factory=dict)
    #: With inspect(timeline=True): events per time bucket (see :class:`Timeline`) by
    #: created_at, the duplicates among them, and events per bucket by sourceEventTime.
    created_per_bucket: dict[int, int] = field(default_factory=dict)
    duplicates_per_bucket: dict[int, int] = field(default_factory=dict)
    source_per_bucket: dict[int, int] = field(default_factory=dict)
    #: Times not yet counted into those buckets (appending is cheaper than counting per event).
    pending_created: list[int] = field(default_factory=list, repr=False)
    pending_duplicates: list[int] = field(default_factory=list, repr=False)
    pending_source: list[int] = field(default_factory=list, repr=False)


DAY_MS = 86_400_000


@dataclass
class Timeline:
    """The buckets of the events' timeline: ``days`` UTC days each (bucket ``b`` starts on
    day ``b * days`` since the epoch). It starts at one day; whenever the event types hold
    more than ``max_buckets`` buckets between them it doubles, merging neighbours, so memory
    stays bounded whatever the times (counts per bucket, never events).

    Counting is vectorised: the event loop appends each event's times to its type's
    ``pending`` lists, and :meth:`count` turns them into buckets every ``batch`` times."""

    max_buckets: int = 100_000
    batch: int = 1 << 16
    days: int = 1
    waiting: int = 0  # about how many times were appended to pending lists since the last count

    def count(self, event_types: Iterable[EventTypeStats]) -> None:
        """Count every pending time into its bucket, then coarsen while there are too many."""
        event_types = list(event_types)
        span = self.days * DAY_MS
        for stats in event_types:
            for times, counts in (
                (stats.pending_created, stats.created_per_bucket),
                (stats.pending_duplicates, stats.duplicates_per_bucket),
                (stats.pending_source, stats.source_per_bucket),
            ):
                if times:
                    _add_counts(counts, np.fromiter(times, np.int64, len(times)) // span)
                    times.clear()
        self.waiting = 0
        while (
            sum(
                len(s.created_per_bucket) + len(s.duplicates_per_bucket) + len(s.source_per_bucket)
                for s in event_types
            )
            > self.max_buckets
        ):
            self.days *= 2
            for s in event_types:
                s.created_per_bucket, s.duplicates_per_bucket, s.source_per_bucket = (
                    _halved(s.created_per_bucket),
                    _halved(s.duplicates_per_bucket),
                    _halved(s.source_per_bucket),
                )

    def to_list(self, per_bucket: dict[int, int]) -> list[list]:
        """Counts as ``[[first day (YYYY-MM-DD), count], ...]`` in time order."""
        span = self.days * DAY_MS
        return [
            [iso_millis(max(bucket * span, _MIN_MS))[:10], count]
            for bucket, count in sorted(per_bucket.items())
        ]


def _add_counts(counts: dict[int, int], buckets: np.ndarray) -> None:
    """Add how often each bucket number occurs in ``buckets`` to ``counts``."""
    low = int(buckets.min())
    width = int(buckets.max()) - low + 1
    if width <= 4 * len(buckets):  # the usual case: a few days or months of events
        n = np.bincount(buckets - low, minlength=width)
        found = np.flatnonzero(n)
        pairs = zip((found + low).tolist(), n[found].tolist())
    else:
        found, n = np.unique(buckets, return_counts=True)
        pairs = zip(found.tolist(), n.tolist())
    for bucket, count in pairs:
        counts[bucket] = counts.get(bucket, 0) + count


def _halved(per_bucket: dict[int, int]) -> dict[int, int]:
    """Counts per bucket of twice the width: buckets 2k and 2k+1 become k."""
    merged: dict[int, int] = {}
    for bucket, count in per_bucket.items():
        merged[bucket // 2] = merged.get(bucket // 2, 0) + count
    return merged


@dataclass
class InspectReport:
    """The result of :func:`inspect`; ``to_dict()`` gives plain JSON-ready data."""

    source: str
    profiles: int = 0
    empty_profiles: int = 0  # profiles without a single attribute or event
    sections: Counter = field(default_factory=Counter)  # section_id -> profiles that have it
    attributes: dict[tuple[str, str], AttributeStats] = field(default_factory=dict)
    events: dict[tuple[str, str], EventTypeStats] = field(default_factory=dict)
    unknown_keys: Counter = field(default_factory=Counter)  # key pattern -> occurrences
    bytes_json: int = 0
    seconds: float = 0.0
    metadata: Metadata | None = None  # names the IDs in to_dict() when given
    event_fields: bool = False  # the events' data fields were looked for (EventTypeStats.fields)
    timeline: Timeline | None = None  # events were counted per time bucket (inspect(timeline=True))
    bytes_file: int | None = None  # the input's size as stored (compressed for gzip); None for a stream
    gzip: bool = False

    def _names(
        self,
        *,
        section: str | None = None,
        attribute: AttributeStats | None = None,
        event: EventTypeStats | None = None,
    ) -> dict[str, Any]:
        """Name fields for one entry, only when metadata was given."""
        meta = self.metadata
        if meta is None:
            return {}
        if section is not None:
            found = meta.section(section)
            return {"name": found.name if found else None}
        if attribute is not None:
            found = meta.attribute(attribute.section_id, attribute.attribute_id)
            return {"name": found.name if found else None, "is_tag": found.kind == "tag" if found else None}
        found = meta.event_type(event.section_id, event.type_id)
        return {"name": found.name if found else None}

    @property
    def attribute_rows(self) -> int:
        return sum(a.profiles for a in self.attributes.values())

    @property
    def event_rows(self) -> int:
        return sum(e.events for e in self.events.values())

    def to_dict(self) -> dict[str, Any]:
        created = [
            t for e in self.events.values() for t in (e.first_created_at, e.last_created_at) if t is not None
        ]
        return {
            "source": self.source,
            "profiles": self.profiles,
            "empty_profiles": self.empty_profiles,
            "attribute_rows": self.attribute_rows,
            "event_rows": self.event_rows,
            "unknown_key_rows": sum(self.unknown_keys.values()),
            "events_created": {
                "first": iso_millis(min(created, default=None)),
                "last": iso_millis(max(created, default=None)),
            },
            "sections": [
                {"section_id": s, **self._names(section=s), "profiles": n} for s, n in self.sections.items()
            ],
            "attributes": [
                {
                    "section_id": a.section_id,
                    "attribute_id": a.attribute_id,
                    **self._names(attribute=a),
                    "profiles": a.profiles,
                    "always_null": a.always_null,
                    "value_types": dict(a.value_types),
                    "type": _type_name(a.values),
                }
                for a in self.attributes.values()
            ],
            "events": [
                {
                    "section_id": e.section_id,
                    "type_id": e.type_id,
                    **self._names(event=e),
                    "events": e.events,
                    "profiles": e.profiles,
                    "duplicates": e.duplicates,
                    "unknown_source_time": e.unknown_source_time,
                    "created_at": {
                        "first": iso_millis(e.first_created_at),
                        "last": iso_millis(e.last_created_at),
                    },
                    "source_event_time": {
                        "first": iso_millis(e.first_source_event_time),
                        "last": iso_millis(e.last_source_event_time),
                    },
                    **(
                        {
                            "fields": [
                                {"field": ".".join(("data", *path)), "type": _type_name(values)}
                                for path, values in e.fields.items()
                            ]
                        }
                        if self.event_fields
                        else {}
                    ),
                }
                for e in self.events.values()
            ],
            "unknown_keys": [{"key": k, "count": n} for k, n in self.unknown_keys.items()],
            "bytes_json": self.bytes_json,
            "bytes_file": self.bytes_file,
            "gzip": self.gzip,
            "seconds": round(self.seconds, 3),
            **({"timeline": self._timeline_dict()} if self.timeline is not None else {}),
        }

    def _timeline_dict(self) -> dict[str, Any]:
        line = self.timeline
        return {
            "days_per_bucket": line.days,
            "events": [
                {
                    "section_id": e.section_id,
                    "type_id": e.type_id,
                    "created_at": line.to_list(e.created_per_bucket),
                    "duplicates": line.to_list(e.duplicates_per_bucket),
                    "source_event_time": line.to_list(e.source_per_bucket),
                }
                for e in self.events.values()
            ],
        }

    def to_html(self) -> str:
        """The report as one self-contained HTML page (charts as inline SVG, no scripts, no
        network), built from :meth:`to_dict`; the events' timeline needs ``inspect(timeline=True)``."""
        return render_html(self.to_dict())

    def save_html(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`to_html` to ``path`` (complete, or not at all)."""
        return write_text_whole(path, self.to_html(), ApsisExportError)


def _type_name(values: ValueStats) -> str | None:
    """The discovered type as shown: kind, with the scale of a decimal; None when only nulls were seen."""
    if not values.any_value:
        return None
    kind, scale = values.kind()
    return f"{kind}({scale})" if kind == DECIMAL else kind


_EVENT_INDEX = re.compile(r"^/events/\d+/")


def key_pattern(key: str) -> str:
    """An unknown key's pointer with event positions generalised: /events/3/x -> /events/*/x."""
    return _EVENT_INDEX.sub("/events/*/", key)


def inspect(
    source: SourceLike | Source,
    *,
    engine: EngineName | str = DEFAULT_ENGINE,
    input_layout: InputLayout | str = InputLayout.AUTO,
    names: Metadata | None = None,
    event_fields: bool = False,
    timeline: bool = False,
    progress: Callable[[Progress], None] | None = None,
) -> InspectReport:
    """Read a whole export and report what it holds (see :class:`InspectReport`);
    with ``names``, the report names the IDs. ``event_fields`` also finds every field
    of the events' ``data`` and its type (what --split-events makes columns of): it
    makes the pass about 1.6x slower on event-heavy files, so it is asked for. ``timeline``
    also counts events per type and day (see :class:`Timeline`), for :meth:`InspectReport.to_html`."""
    input_layout = InputLayout(input_layout)
    parser = get_engine(engine)
    start = time.perf_counter()
    with open_source(source) as src:
        report = InspectReport(
            source=src.name,
            metadata=names,
            event_fields=event_fields,
            timeline=Timeline() if timeline else None,
            gzip=src.compressed,
        )
        ticker = ProgressTicker(progress, src)
        rows = 0
        for profile in parser.profiles(src, layout=input_layout):
            for extra in profile.extras:
                report.unknown_keys[key_pattern(extra.key)] += 1
            if profile.key is None:
                continue
            report.profiles += 1
            report.sections.update(dict.fromkeys(profile.section_ids, 1))
            if not profile.attributes and not profile.events:
                report.empty_profiles += 1
            for attribute in profile.attributes:
                key = (attribute.section_id, attribute.attribute_id)
                stats = report.attributes.get(key) or report.attributes.setdefault(key, AttributeStats(*key))
                stats.profiles += 1
                stats.value_types[attribute.value_type] += 1
                stats.values.add(attribute.value)
            _count_events(report, profile.events, event_fields)
            rows += len(profile.attributes) + len(profile.events)
            ticker.tick(report.profiles, rows)
        if report.timeline is not None:
            report.timeline.count(report.events.values())
        report.bytes_json = src.json_offset
        report.bytes_file = src.total_bytes
        ticker.tick(report.profiles, rows, final=True)
    report.seconds = time.perf_counter() - start
    return report


def _count_events(report: InspectReport, events, event_fields: bool) -> None:
    seen_types: set[tuple[str, str]] = set()
    seen_ids: set[tuple[str, str]] = set()
    line = report.timeline
    timeline = line is not None
    for event in events:
        key = (event.section_id, event.type_id)
        stats = report.events.get(key) or report.events.setdefault(key, EventTypeStats(*key))
        stats.events += 1
        if key not in seen_types:
            seen_types.add(key)
            stats.profiles += 1
        created, source_time = event.created_at, event.source_event_time
        if event.correlation_id is not None:
            cid = (event.section_id, event.correlation_id)
            if cid in seen_ids:
                stats.duplicates += 1
                if timeline and created is not None:
                    stats.pending_duplicates.append(created)
            seen_ids.add(cid)
        if event_fields:
            fields = stats.fields
            for path, value in data_fields(event.data):
                values = fields.get(path)
                if values is None:
                    values = fields[path] = ValueStats()
                values.add(value)
        if created is not None:
            if stats.first_created_at is None or created < stats.first_created_at:
                stats.first_created_at = created
            if stats.last_created_at is None or created > stats.last_created_at:
                stats.last_created_at = created
            if timeline:
                stats.pending_created.append(created)
        if source_time is None:
            stats.unknown_source_time += 1
        else:
            if stats.first_source_event_time is None or source_time < stats.first_source_event_time:
                stats.first_source_event_time = source_time
            if stats.last_source_event_time is None or source_time > stats.last_source_event_time:
                stats.last_source_event_time = source_time
            if timeline:
                stats.pending_source.append(source_time)
    if timeline:
        line.waiting += 2 * len(events)
        if line.waiting >= line.batch:
            line.count(report.events.values())
