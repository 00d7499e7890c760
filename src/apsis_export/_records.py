"""The typed records every other part of apsis-export speaks.

An engine turns the export document into :class:`Profile` objects (one per
profile, in file order); each holds the profile's :class:`Attribute`,
:class:`Event` and :class:`Extra` records. Field names equal the output column
names, so sinks can read records by column name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

#: A JSON value as the exact engine yields it: ``str``, ``int`` (up to 4300 digits),
#: :class:`~decimal.Decimal` (non-integers, digits exactly as written; longer
#: integers, exponent 0),
#: ``bool``, ``None``, ``dict`` or ``list`` of these.
JSONValue = Any


@dataclass(slots=True)
class Attribute:
    """One attribute or tag of one profile section (tags have ``value`` None)."""

    profile_key: str
    section_id: str
    attribute_id: str
    value: JSONValue
    value_type: str  # string | number | boolean | null | object | array


@dataclass(slots=True)
class Event:
    """One event of one profile section; times are milliseconds since the Unix epoch.

    ``source_event_time`` is None where the export says 0 (unknown).
    """

    profile_key: str
    section_id: str
    correlation_id: str | None
    type_id: str
    source_event_time: int | None
    created_at: int | None
    data: JSONValue


@dataclass(slots=True)
class Extra:
    """A key the format documentation does not name, kept rather than dropped.

    ``key`` is a JSON Pointer (RFC 6901) relative to the profile's section
    (``section_id`` set), the profile (only ``profile_key`` set) or the document
    (both None), e.g. ``/metadata`` or ``/attributes/<id>/history``.
    """

    profile_key: str | None
    section_id: str | None
    key: str
    value: JSONValue


@dataclass(slots=True)
class NamedAttribute(Attribute):
    """An attribute with its names from :class:`~apsis_export.Metadata` (None where unknown)."""

    section_name: str | None = None
    attribute_name: str | None = None
    is_tag: bool | None = None  # from the metadata, not inferred from a null value
    declared_type: str | None = None
    #: The value converted to its declared type (None unless declared so and convertible).
    value_boolean: bool | None = None
    value_integer: int | None = None
    value_decimal: Decimal | None = None
    value_date: int | None = None  # days since the Unix epoch
    value_timestamp: int | None = None  # milliseconds since the Unix epoch


@dataclass(slots=True)
class NamedEvent(Event):
    """An event with its names from :class:`~apsis_export.Metadata` (None where unknown)."""

    section_name: str | None = None
    type_name: str | None = None


Record = Attribute | Event | Extra


def data_fields(data: Any) -> list[tuple[tuple[str, ...], Any]]:
    """``(path, value)`` for every field of an event's ``data``: objects are walked, and
    anything else is a field (arrays, and empty objects below the top). ``data`` that
    is not an object is one field with the path ``()`` (column ``data``), unless null."""
    if type(data) is not dict:
        return [] if data is None else [((), data)]
    fields: list[tuple[tuple[str, ...], Any]] = []
    _walk(data, (), fields)
    return fields


def _walk(data: dict[str, Any], path: tuple[str, ...], fields: list[tuple[tuple[str, ...], Any]]) -> None:
    for key, value in data.items():
        if type(value) is dict and value:
            _walk(value, (*path, key), fields)
        else:
            fields.append(((*path, key), value))


@dataclass(slots=True)
class Profile:
    """Everything one profile contributed, in file order.

    ``key`` is None for the document-level group that carries top-level keys
    outside any profile (for example ``metadata``): it holds extras only.
    """

    key: str | None
    #: Every section ID of the profile in file order, empty sections included.
    section_ids: list[str] = field(default_factory=list)
    attributes: list[Attribute] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    extras: list[Extra] = field(default_factory=list)
    #: How many profiles this stands for: a run of them that the compiled step appended to its
    #: columns in one call (their rows are there, not here; ``key`` is the last one's).
    count: int = 1


#: The JSON type name of each Python type a parsed value can have.
VALUE_TYPES = {
    str: "string",
    int: "number",
    Decimal: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
    dict: "object",
    list: "array",
}
