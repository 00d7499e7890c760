"""What is in an export, at parser speed and in flat memory: coverage, counts, time ranges.

Memory grows with the number of distinct sections, attributes, event types and
unknown keys, never with the number of profiles.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from operator import attrgetter
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
from ._records import Event, data_fields
from ._report_html import render_html
from ._schema import DECIMAL
from ._shape import _MAX_MS, _MIN_MS
from ._source import Source, SourceLike, open_source
from ._types import ValueStats


@dataclass
class AttributeStats:
    """One attribute (or tag) of one section: how many profiles have it, with which value types."""

    section_id: str
    attribute_id: str
    profiles: int = 0
    value_types: Counter[str] = field(default_factory=Counter)
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


DAY_MS = 86_400_000


@dataclass
class Timeline:
    """The buckets of the events' timeline: ``days`` UTC days each (bucket ``b`` starts on
    day ``b * days`` since the epoch). It starts at one day; whenever the event types hold
    more than ``max_buckets`` buckets between them it doubles, merging neighbours, so memory
    stays bounded whatever the times (counts per bucket, never events)."""

    max_buckets: int = 100_000
    days: int = 1

    def add(self, per_bucket: list[dict[int, int]], codes: np.ndarray, times: np.ndarray) -> None:
        """Count each time (ms) into its bucket in ``per_bucket[code]``, the counts of its type:
        one bincount over (type, bucket) cells, then a dict update per cell that occurs."""
        if not len(times):
            return
        buckets = times // (self.days * DAY_MS)
        low = int(buckets.min())
        width = int(buckets.max()) - low + 1
        cells = codes * width + (buckets - low)
        if width * (int(codes.max()) + 1) <= 4 * len(cells):  # the usual case: days or months of events
            n = np.bincount(cells)
            found = np.flatnonzero(n)
            n = n[found]
        else:
            found, n = np.unique(cells, return_counts=True)
        for cell, count in zip(found.tolist(), n.tolist(), strict=True):
            code, bucket = divmod(cell, width)
            counts = per_bucket[code]
            bucket += low
            counts[bucket] = counts.get(bucket, 0) + count

    def coarsen(self, event_types: list[EventTypeStats]) -> None:
        """Double the buckets' width while the event types hold more than ``max_buckets``, up
        to buckets wider than every time there can be: each series then has a bucket or two
        (before and after 1970), and more types than that bound cannot make it loop for ever."""
        while (
            sum(
                len(s.created_per_bucket) + len(s.duplicates_per_bucket) + len(s.source_per_bucket)
                for s in event_types
            )
            > self.max_buckets
            and self.days * DAY_MS <= _MAX_MS - _MIN_MS
        ):
            self.days *= 2
            for s in event_types:
                s.created_per_bucket, s.duplicates_per_bucket, s.source_per_bucket = (
                    _halved(s.created_per_bucket),
                    _halved(s.duplicates_per_bucket),
                    _halved(s.source_per_bucket),
                )

    def to_list(self, per_bucket: dict[int, int]) -> list[list[Any]]:
        """Counts as ``[[first day (YYYY-MM-DD), count], ...]`` in time order."""
        span = self.days * DAY_MS
        return [
            [iso_millis(max(bucket * span, _MIN_MS))[:10], count]
            for bucket, count in sorted(per_bucket.items())
        ]


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
    sections: Counter[str] = field(default_factory=Counter)  # section_id -> profiles that have it
    attributes: dict[tuple[str, str], AttributeStats] = field(default_factory=dict)
    events: dict[tuple[str, str], EventTypeStats] = field(default_factory=dict)
    unknown_keys: Counter[str] = field(default_factory=Counter)  # key pattern -> occurrences
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
        if event is None:
            return {}
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
            **({"timeline": self._timeline_dict(self.timeline)} if self.timeline is not None else {}),
        }

    def _timeline_dict(self, line: Timeline) -> dict[str, Any]:
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
        events = EventCounts(report, event_fields)
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
            events.add(profile.events)
            rows += len(profile.attributes) + len(profile.events)
            ticker.tick(report.profiles, rows)
        events.flush()
        report.bytes_json = src.json_offset
        report.bytes_file = src.total_bytes
        ticker.tick(report.profiles, rows, final=True)
    report.seconds = time.perf_counter() - start
    return report


_EVENT_TYPE = attrgetter("section_id", "type_id")
_CORRELATION_ID = attrgetter("correlation_id")
_CREATED_AT = attrgetter("created_at")
_SOURCE_EVENT_TIME = attrgetter("source_event_time")


#: Events counted at once by EventCounts (its memory: about 100 bytes each).
EVENT_BATCH = 1 << 14


class EventCounts(dict[tuple[str, str], int]):
    """Counts a report's events (:class:`EventTypeStats`) a batch at a time, so that commonly no
    Python code runs per event: per profile, the events' types, times and correlation IDs are
    gathered by ``map`` (C loops); per ``batch`` events, numpy counts, takes minima and maxima per type
    and, with a timeline, counts per type and time bucket. Memory: one batch. (Batches of
    16k keep numpy's arrays under 128 kB, which malloc reuses; larger ones are mapped afresh
    each time, and the page faults made them several times slower.)

    The dict maps (section_id, type_id) to the type's number, an index into ``types``; a new
    type is added to ``report.events`` when first met, so they keep the file's order."""

    def __init__(self, report: InspectReport, event_fields: bool = False, batch: int | None = None):
        super().__init__()
        self.report, self.event_fields, self.batch = report, event_fields, batch or EVENT_BATCH
        self.types: list[EventTypeStats] = []
        # The batch: each event's type number and times (None where unknown), the rows of
        # the duplicates, and each profile's distinct type numbers.
        self.codes: list[int] = []
        self.created: list[int | None] = []
        self.source: list[int | None] = []
        self.duplicate_rows: list[int] = []
        self.profile_codes: list[int] = []

    def __missing__(self, key: tuple[str, str]) -> int:
        stats = self.report.events[key] = EventTypeStats(*key)
        self.types.append(stats)
        self[key] = code = len(self.types) - 1
        return code

    def add(self, events: list[Event]) -> None:
        """Count one profile's events (a duplicate repeats a correlation ID of the same
        section earlier in the profile)."""
        if not events:
            return
        codes = list(map(self.__getitem__, map(_EVENT_TYPE, events)))
        first_row = len(self.codes)
        self.codes += codes
        self.profile_codes += set(codes)
        self.created += map(_CREATED_AT, events)
        self.source += map(_SOURCE_EVENT_TIME, events)
        if len(set(map(_CORRELATION_ID, events))) < len(events):  # an ID repeats (or several are None)
            seen: set[tuple[str, str]] = set()
            for row, event in enumerate(events, first_row):
                if event.correlation_id is not None:
                    cid = (event.section_id, event.correlation_id)
                    if cid in seen:
                        self.duplicate_rows.append(row)
                    seen.add(cid)
        if self.event_fields:
            types = self.types
            for event, code in zip(events, codes, strict=True):
                fields = types[code].fields
                for path, value in data_fields(event.data):
                    values = fields.get(path)
                    if values is None:
                        values = fields[path] = ValueStats()
                    values.add(value)
        if len(self.codes) >= self.batch:
            self.flush()

    def flush(self) -> None:
        """Count the batch into the types' stats (and the timeline), and start a new one."""
        if not self.codes:
            return
        types, line = self.types, self.report.timeline
        codes = np.array(self.codes, np.int64)
        for code, n in _nonzero(np.bincount(codes)):
            types[code].events += n
        for code, n in _nonzero(np.bincount(np.array(self.profile_codes, np.int64))):
            types[code].profiles += n
        duplicates = codes[np.array(self.duplicate_rows, np.int64)]
        for code, n in _nonzero(np.bincount(duplicates)):
            types[code].duplicates += n
        known, created = _times(self.created)
        _widen(types, codes[known], created[known], "first_created_at", "last_created_at")
        if line is not None:
            line.add([s.created_per_bucket for s in types], codes[known], created[known])
            rows = np.array(self.duplicate_rows, np.int64)
            rows = rows[known[rows]]
            line.add([s.duplicates_per_bucket for s in types], codes[rows], created[rows])
        known, source = _times(self.source)
        for code, n in _nonzero(np.bincount(codes[~known])):
            types[code].unknown_source_time += n
        _widen(types, codes[known], source[known], "first_source_event_time", "last_source_event_time")
        if line is not None:
            line.add([s.source_per_bucket for s in types], codes[known], source[known])
            line.coarsen(types)
        for batch in (self.codes, self.created, self.source, self.duplicate_rows, self.profile_codes):
            batch.clear()


def _times(times: list[int | None]) -> tuple[np.ndarray, np.ndarray]:
    """Which of ``times`` (ms, or None where unknown) are known, and all as int64 (0 where
    unknown). Through float64, which turns None into NaN at C speed: exact, as the engines
    give times within years 1..9999 only (under 2**53 ms)."""
    values = np.array(times, np.float64)
    known = ~np.isnan(values)
    return known, np.where(known, values, 0).astype(np.int64)


def _nonzero(counts: np.ndarray) -> Iterator[tuple[int, int]]:
    """(index, count) of each count that is not 0."""
    found = np.flatnonzero(counts)
    return zip(found.tolist(), counts[found].tolist(), strict=True)


def _widen(
    types: list[EventTypeStats], codes: np.ndarray, times: np.ndarray, first_field: str, last_field: str
) -> None:
    """Widen each event type's (first, last) time range, the fields named, to the times of
    its events in this batch (``codes``: each event's type number)."""
    if not len(times):
        return
    first = np.full(len(types), np.iinfo(np.int64).max)
    last = np.full(len(types), np.iinfo(np.int64).min)
    np.minimum.at(first, codes, times)
    np.maximum.at(last, codes, times)
    found = np.flatnonzero(np.bincount(codes, minlength=len(types)))
    for code, low, high in zip(found.tolist(), first[found].tolist(), last[found].tolist(), strict=True):
        stats = types[code]
        if getattr(stats, first_field) is None or low < getattr(stats, first_field):
            setattr(stats, first_field, low)
        if getattr(stats, last_field) is None or high > getattr(stats, last_field):
            setattr(stats, last_field, high)
