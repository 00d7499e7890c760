"""The wide layout: one row per profile and section, a typed column per attribute and
a boolean column per tag; and split events: one table per event type, with the
event's ``data`` flattened into typed columns.

A :class:`WideSchema` fixes those columns before the first row is written (a
file's schema is set when it is opened). It comes from the metadata (every
attribute and tag the account defines, typed as declared), from an export
request's attribute and tag lists, or from a first pass over the file
(:func:`apsis_export.inspect` discovers every attribute, tag and data field with
the type its values fit; see ``_types.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ._errors import InputError
from ._metadata import Definition, Metadata, Namer
from ._records import Event, Profile, data_fields
from ._schema import BOOLEAN, EVENTS, STRING, Column, Table
from ._types import TypedValues, ValueStats, converter, declared_kind

if TYPE_CHECKING:
    from ._inspect import InspectReport

PROFILES = "profiles"
#: Where a schema's columns came from (named in errors about a missing column).
FROM_METADATA, FROM_REQUEST, DISCOVERED, GIVEN = (
    "the metadata",
    "the export request",
    "a first pass over the file",
    "the schema given",
)


@dataclass(frozen=True)
class AttributeColumn:
    """One column of the profiles table: an attribute (typed) or a tag (boolean)."""

    name: str
    ids: tuple[str, ...]  # the keys it takes in the file (every ID form the metadata knows)
    kind: str = STRING  # a column kind of _schema (tags: BOOLEAN)
    scale: int = 0  # DECIMAL only
    is_tag: bool = False
    #: The section IDs it belongs to; a tag is false in those when absent, null in others.
    #: Empty: it belongs to every section.
    sections: tuple[str, ...] = ()
    declared_type: str | None = None


@dataclass(frozen=True)
class DataField:
    """One column of a split events table: a path into the event's ``data``."""

    path: tuple[str, ...]
    kind: str = STRING
    scale: int = 0

    @property
    def name(self) -> str:
        return ".".join(("data", *self.path))


@dataclass(frozen=True)
class EventTable:
    """One split events table: the events of one type, its data fields as columns."""

    name: str  # table (and file) name: events_<type>
    type_ids: tuple[str, ...]
    fields: tuple[DataField, ...] = ()


@dataclass(frozen=True)
class WideSchema:
    """The columns of the wide layout's profiles table and of the split events tables."""

    attributes: tuple[AttributeColumn, ...] = ()
    event_tables: tuple[EventTable, ...] = ()
    source: str = GIVEN

    # -- where the columns come from ------------------------------------------------------------

    @classmethod
    def from_metadata(cls, metadata: Metadata) -> WideSchema:
        """Every attribute and tag the metadata defines, named and typed as declared."""
        columns = [_column(defn, defn.ids) for defn in metadata.attributes_and_tags if defn.ids]
        return cls(_uniquely_named(columns), (), FROM_METADATA)

    @classmethod
    def from_request(
        cls, attributes: Iterable[str], tags: Iterable[str] = (), metadata: Metadata | None = None
    ) -> WideSchema:
        """The attributes and tags an export request asked for; named and typed from the
        metadata where it defines them, else text columns named by ID."""
        columns = []
        for is_tag, ids in ((False, attributes), (True, tags)):
            for given in dict.fromkeys(ids):
                defn = metadata.attribute("", given) if metadata is not None else None
                if defn is not None:
                    columns.append(_column(defn, (given, *(i for i in defn.ids if i != given))))
                elif is_tag:
                    columns.append(AttributeColumn(given, (given,), BOOLEAN, is_tag=True))
                else:
                    columns.append(AttributeColumn(given, (given,)))
        return cls(_uniquely_named(columns), (), FROM_REQUEST)

    @classmethod
    def from_report(cls, report: InspectReport, metadata: Metadata | None = None) -> WideSchema:
        """The attributes, tags and event data fields an :func:`~apsis_export.inspect` pass found,
        in the order first seen. With ``metadata``, the attribute columns are the metadata's
        (see :meth:`from_metadata`), then any attribute found that it does not define (named by
        ID, typed as discovered), and event tables are named by their type's name."""
        defined = cls.from_metadata(metadata).attributes if metadata is not None else ()
        known = {i for column in defined for i in column.ids}
        values_of: dict[str, ValueStats] = {}
        sections_of: dict[str, list[str]] = {}
        for (section_id, attribute_id), stats in report.attributes.items():
            if attribute_id not in known:
                _merge(values_of, attribute_id, stats.values)
                sections_of.setdefault(attribute_id, []).append(section_id)
        columns = list(defined)
        for attribute_id, values in values_of.items():
            sections = tuple(sections_of[attribute_id])
            if values.any_value:
                columns.append(
                    AttributeColumn(attribute_id, (attribute_id,), *values.kind(), sections=sections)
                )
            else:  # only ever null: a tag (or an attribute nobody filled: a tag column says "present")
                columns.append(
                    AttributeColumn(attribute_id, (attribute_id,), BOOLEAN, is_tag=True, sections=sections)
                )
        attributes = _uniquely_named(columns)
        fields: dict[str, dict[tuple[str, ...], ValueStats]] = {}
        for (_, type_id), stats in report.events.items():
            per_type = fields.setdefault(type_id, {})
            for path, values in stats.fields.items():
                _merge(per_type, path, values)
        tables = []
        taken: set[str] = set()
        for type_id, per_type in fields.items():
            defn = metadata.event_type("", type_id) if metadata is not None else None
            name = _unique(f"events_{_slug(defn.name if defn and defn.name else type_id)}", taken, type_id)
            tables.append(
                EventTable(
                    name,
                    (type_id,),
                    tuple(DataField(path, *values.kind()) for path, values in per_type.items()),
                )
            )
        return cls(attributes, tuple(tables), DISCOVERED)

    # -- the tables -----------------------------------------------------------------------------

    def profiles_table(self, *, named: bool) -> Table:
        fixed = [Column("profile_key", STRING), Column("section_id", STRING)]
        if named:
            fixed.append(Column("section_name", STRING))
        return Table(
            PROFILES, (*fixed, *(Column(c.name, c.kind, c.scale) for c in self.attributes)), tuple_rows=True
        )

    def event_table(self, name: str, *, named: bool) -> Table:
        table = next(t for t in self.event_tables if t.name == name)
        fixed = list(EVENTS.columns[:-1])  # everything but data, which becomes the fields
        if named:
            fixed += [Column("section_name", STRING), Column("type_name", STRING)]
        return Table(
            table.name, (*fixed, *(Column(f.name, f.kind, f.scale) for f in table.fields)), tuple_rows=True
        )


def _merge(merged: dict[Any, ValueStats], key: Any, values: ValueStats) -> None:
    """Add ``values`` to the stats ``merged[key]`` (new if missing)."""
    if key not in merged:
        merged[key] = ValueStats()
    merged[key].merge(values)


def _column(defn: Definition, ids: tuple[str, ...]) -> AttributeColumn:
    """The column of an attribute or tag the metadata defines (keyed by every ID form:
    which one the file uses is not documented)."""
    name = defn.name or ids[0]
    if defn.kind == "tag":
        return AttributeColumn(name, ids, BOOLEAN, is_tag=True, sections=defn.section_ids)
    kind, scale = declared_kind(defn.declared_type)
    return AttributeColumn(
        name, ids, kind, scale, sections=defn.section_ids, declared_type=defn.declared_type
    )


_UNSAFE = re.compile(r"[^0-9A-Za-z._-]+")


def _slug(text: str) -> str:
    """A name usable in a file name: letters, digits, ``._-``; the rest becomes ``_``."""
    return _UNSAFE.sub("_", text.strip()).strip("_").lower() or "_"


def _unique(name: str, taken: set[str], suffix: str) -> str:
    """``name``, or ``name_<suffix>`` (then ``_2``, ``_3``...) when it is taken."""
    candidate = name if name not in taken else f"{name}_{_slug(suffix)}"
    n = 2
    while candidate in taken:
        candidate, n = f"{name}_{_slug(suffix)}_{n}", n + 1
    taken.add(candidate)
    return candidate


def _uniquely_named(columns: Sequence[AttributeColumn]) -> tuple[AttributeColumn, ...]:
    """The columns with names that clash (with each other or the fixed columns) suffixed by an ID."""
    taken = {"profile_key", "section_id", "section_name"}
    clashing = {c.name for c in columns if sum(d.name == c.name for d in columns) > 1}
    out = []
    for column in columns:
        name = column.name if column.name not in clashing else f"{column.name}_{_slug(column.ids[0])}"
        name = _unique(name, taken, column.ids[0])
        out.append(column if name == column.name else replace(column, name=name))
    return tuple(out)


class WideRows:
    """Rows of the profiles table and of the split events tables, from a profile's records."""

    def __init__(self, schema: WideSchema, namer: Namer | None, values: TypedValues):
        self.schema = schema
        self.namer = namer
        self.values = values
        self._column_of = {i: n for n, c in enumerate(schema.attributes) for i in c.ids}
        self._tags = [(n, frozenset(c.sections)) for n, c in enumerate(schema.attributes) if c.is_tag]
        self._typed = [
            (n, converter(c.kind, c.scale), f"for column {c.name!r} does not fit its type")
            for n, c in enumerate(schema.attributes)
            if not c.is_tag
        ]
        self._table_of = {i: t for t in schema.event_tables for i in t.type_ids}
        self._fields = {
            t.name: (
                {f.path: n for n, f in enumerate(t.fields)},
                [
                    (converter(f.kind, f.scale), f"for column {f.name!r} of {t.name} does not fit its type")
                    for f in t.fields
                ],
            )
            for t in schema.event_tables
        }

    def profiles(self, profile: Profile) -> list[tuple]:
        """One row per section of the profile (sections without attributes too)."""
        width = len(self.schema.attributes)
        present: dict[str, list] = {}
        column_of = self._column_of
        for record in profile.attributes:
            n = column_of.get(record.attribute_id)
            if n is None:
                hint = (
                    "; save fresh metadata or convert without --names"
                    if self.schema.source == FROM_METADATA
                    else ""
                )
                raise InputError(
                    f"attribute {record.attribute_id!r} of section {record.section_id!r} has no column in the "
                    f"wide layout (columns came from {self.schema.source}{hint})",
                    profile_key=profile.key,
                )
            values = present.get(record.section_id)
            if values is None:
                values = present[record.section_id] = [_ABSENT] * width
            elif values[n] is not _ABSENT:
                raise InputError(self._same_column(profile, record, n), profile_key=profile.key)
            values[n] = record.value
        rows = []
        for section_id in profile.section_ids:
            values = present.get(section_id) or [_ABSENT] * width
            for n, sections in self._tags:
                values[n] = values[n] is not _ABSENT or (
                    None if sections and section_id not in sections else False
                )
            for n, convert, what in self._typed:
                value = values[n]
                values[n] = (
                    None
                    if value is _ABSENT or value is None
                    else self.values.convert(convert, value, what, profile.key)
                )
            head = (profile.key, section_id)
            if self.namer is not None:
                head += (self.namer.section_name(section_id),)
            rows.append(head + tuple(values))
        return rows

    def _same_column(self, profile: Profile, record: Any, n: int) -> str:
        """The error for two attributes of one section that are one column (two IDs of one definition)."""
        column = self.schema.attributes[n]
        first = next(
            a.attribute_id
            for a in profile.attributes
            if a.section_id == record.section_id and a.attribute_id in column.ids
        )
        return (
            f"attributes {first!r} and {record.attribute_id!r} of section {record.section_id!r} both fill "
            f"column {column.name!r} (two IDs of one definition); the long layout keeps both"
        )

    def events(self, events: Sequence[Event]) -> Iterable[tuple[str, tuple]]:
        """``(table name, row)`` per event."""
        namer = self.namer
        for event in events:
            table = self._table_of.get(event.type_id)
            if table is None:
                raise InputError(
                    f"event type {event.type_id!r} has no events table (tables came from "
                    f"{self.schema.source})",
                    profile_key=event.profile_key,
                )
            index, converters = self._fields[table.name]
            values: list[Any] = [None] * len(converters)
            for path, value in data_fields(event.data):
                n = index.get(path)
                if n is None:
                    raise InputError(
                        f"event data field {'.'.join(('data', *path))!r} of type {event.type_id!r} "
                        f"has no column (columns came from {self.schema.source})",
                        profile_key=event.profile_key,
                    )
                if value is not None:
                    convert, what = converters[n]
                    values[n] = self.values.convert(convert, value, what, event.profile_key)
            head = (
                event.profile_key,
                event.section_id,
                event.correlation_id,
                event.type_id,
                event.source_event_time,
                event.created_at,
            )
            if namer is not None:
                head += namer.event_names(event.section_id, event.type_id)
            yield table.name, head + tuple(values)


_ABSENT = object()
