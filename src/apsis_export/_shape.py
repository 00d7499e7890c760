"""The export's shape: which layout a document has, and how one profile maps to records.

Shared by every engine: an engine only has to find each profile's key and
value (as plain Python JSON values, numbers exact) and hand them to
:func:`profile_records`, so all engines agree on the records by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Annotated, Any, cast

import msgspec

from ._errors import InputError
from ._modes import InputLayout
from ._records import VALUE_TYPES, Attribute, Event, Extra, Profile

#: The input layouts by the short names the engines use (see _modes.InputLayout).
AUTO, WRAPPED, BARE = InputLayout.AUTO, InputLayout.WRAPPED, InputLayout.BARE

#: Top-level keys that only occur in the wrapped layout.
WRAPPER_KEYS = ("profiles", "metadata")

# Earliest and latest millisecond timestamps that ISO 8601 (years 1..9999) can show.
_MIN_MS = -62_135_596_800_000
_MAX_MS = 253_402_300_799_999

_MISSING = object()
_EVENT_FIELDS = frozenset(("correlationId", "sourceEventTime", "typeId", "createdAt", "data"))


_Millis = Annotated[int, msgspec.Meta(ge=_MIN_MS, le=_MAX_MS)]


# The common shape as msgspec types. A profile that decodes into them (unknown keys are
# refused, types and time ranges checked while decoding) maps by typed_profile_columns to the
# columns of the records profile_records gives the same JSON, without further checks; anything
# else fails to decode and is left to profile_records. gc=False: they never form cycles.
class TypedAttribute(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    value: Any


class TypedEvent(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    typeId: str
    correlationId: str | None = None
    sourceEventTime: _Millis | None = None  # missing or null: as profile_records, None
    createdAt: _Millis | None = None
    data: Any = None


class TypedSection(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    attributes: dict[str, TypedAttribute] = {}
    events: list[TypedEvent] = []


class TypedWrapped(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    sections: dict[str, TypedSection] = {}


#: The msgspec type of a profile's value in the common shape, per layout.
TYPED_PROFILES = {WRAPPED: TypedWrapped, BARE: dict[str, TypedSection]}


def pointer(*parts: str) -> str:
    """A JSON Pointer (RFC 6901) from unescaped path parts."""
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def json_kind(value: Any) -> str:
    """A short description of a JSON value's type, for error messages."""
    return VALUE_TYPES.get(type(value), type(value).__name__)


def is_bare_profile(value: Any) -> bool:
    """True when ``value`` looks like a bare-layout profile: an object of objects."""
    return isinstance(value, dict) and all(isinstance(v, dict) for v in value.values())


def document_extra(key: str, value: Any) -> Profile:
    """The document-level group for a top-level key outside ``profiles``."""
    return Profile(None, extras=[Extra(None, None, pointer(key), value)])


def profile_records(key: str, value: Any, layout: str) -> Profile:
    """Map one profile's parsed value to its records; raise InputError on a wrong shape.

    ``layout`` is :data:`WRAPPED` (value is ``{"sections": {...}, ...}``) or
    :data:`BARE` (value is ``{section_id: {...}}``).
    """
    if not isinstance(value, dict):
        raise InputError(f"profile must be a JSON object, found {json_kind(value)}", profile_key=key)
    profile = Profile(key)
    if layout == BARE:
        for section_id, section in value.items():
            _section_records(profile, key, section_id, section)
        return profile
    for name, item in value.items():  # wrapped: {"sections": {...}, other keys...}, in file order
        if name != "sections":
            profile.extras.append(Extra(key, None, pointer(name), item))
        elif not isinstance(item, dict):
            raise InputError(f"'sections' must be a JSON object, found {json_kind(item)}", profile_key=key)
        else:
            for section_id, section in item.items():
                _section_records(profile, key, section_id, section)
    return profile


@dataclass
class ColumnsInto:
    """Where :func:`typed_profile_columns` appends: one list per column of the attributes
    and of the events table (in column order, which is the order of the fields of Attribute
    and Event), or None for a table not wanted."""

    attributes: list[list[Any]] | None = None
    events: list[list[Any]] | None = None
    #: The compiled step (a NativeColumns), when it takes the typed profiles instead: the
    #: profiles it refuses then come as records, which the collector writes after its rows.
    native: Any = None


def typed_profile_columns(key: str, value: Any, layout: str, into: ColumnsInto) -> list[str]:
    """Map a value decoded as ``TYPED_PROFILES[layout]`` to the columns of its attributes and
    events, appended to ``into``; return its section IDs. The one mapping of the typed path:
    :func:`typed_profile_records` makes records from it."""
    section_ids = []
    attributes, events, types = into.attributes, into.events, VALUE_TYPES
    for section_id, section in (value.sections if layout == WRAPPED else value).items():
        section_ids.append(section_id)
        entries = section.attributes
        if entries and attributes is not None:
            keys, sections, ids, values, value_types = attributes
            count = len(entries)
            keys += [key] * count
            sections += [section_id] * count
            ids += entries
            new = [entry.value for entry in entries.values()]
            values += new
            value_types += [types[type(v)] for v in new]
        items = section.events
        if items and events is not None:
            keys, sections, cids, type_ids, source_times, created, data = events
            count = len(items)
            keys += [key] * count
            sections += [section_id] * count
            cids += [e.correlationId for e in items]
            type_ids += [e.typeId for e in items]
            source_times += [e.sourceEventTime or None for e in items]  # 0 means unknown
            created += [e.createdAt for e in items]
            data += [e.data for e in items]
    return section_ids


def typed_profile_records(key: str, value: Any, layout: str) -> Profile:
    """:func:`profile_records` for a value decoded as ``TYPED_PROFILES[layout]``."""
    attributes: list[list[Any]] = [[] for _ in fields(Attribute)]
    events: list[list[Any]] = [[] for _ in fields(Event)]
    section_ids = typed_profile_columns(key, value, layout, ColumnsInto(attributes, events))
    return Profile(key, section_ids, list(map(Attribute, *attributes)), list(map(Event, *events)))


def _section_records(profile: Profile, key: str, section_id: str, section: Any) -> None:
    if not isinstance(section, dict):
        raise InputError(
            f"section {section_id!r} must be a JSON object, found {json_kind(section)}", profile_key=key
        )
    profile.section_ids.append(section_id)
    for name, item in section.items():
        if name == "attributes":
            if not isinstance(item, dict):
                raise InputError(
                    f"'attributes' of section {section_id!r} must be a JSON object, found {json_kind(item)}",
                    profile_key=key,
                )
            _attribute_records(profile, key, section_id, item)
        elif name == "events":
            if not isinstance(item, list):
                raise InputError(
                    f"'events' of section {section_id!r} must be a JSON array, found {json_kind(item)}",
                    profile_key=key,
                )
            _event_records(profile, key, section_id, item)
        else:
            profile.extras.append(Extra(key, section_id, pointer(name), item))


def _attribute_records(profile: Profile, key: str, section_id: str, attributes: dict[str, Any]) -> None:
    out = profile.attributes
    types = VALUE_TYPES
    for attribute_id, entry in attributes.items():
        value = entry.get("value", _MISSING) if type(entry) is dict else _MISSING
        if value is _MISSING:
            what = (
                "has no 'value'"
                if isinstance(entry, dict)
                else f"must be a JSON object, found {json_kind(entry)}"
            )
            raise InputError(f"attribute {attribute_id!r} of section {section_id!r} {what}", profile_key=key)
        out.append(Attribute(key, section_id, attribute_id, value, types[type(value)]))
        if len(entry) > 1:
            for name, item in entry.items():
                if name != "value":
                    profile.extras.append(
                        Extra(key, section_id, pointer("attributes", attribute_id, name), item)
                    )


def _event_records(profile: Profile, key: str, section_id: str, events: list[Any]) -> None:
    out = profile.events
    for index, event in enumerate(events):
        record = None
        if type(event) is dict:  # the common case, checked inline; anything else takes the slow path
            type_id, cid = event.get("typeId"), event.get("correlationId")
            source_time, created = event.get("sourceEventTime"), event.get("createdAt")
            if (
                type(type_id) is str
                and (cid is None or type(cid) is str)
                and type(source_time) is int
                and type(created) is int
                and _MIN_MS <= source_time <= _MAX_MS
                and _MIN_MS <= created <= _MAX_MS
            ):
                record = Event(key, section_id, cid, type_id, source_time or None, created, event.get("data"))
        out.append(record or _checked_event(key, section_id, index, event))
        if not _EVENT_FIELDS.issuperset(event):
            for name, item in event.items():
                if name not in _EVENT_FIELDS:
                    profile.extras.append(Extra(key, section_id, pointer("events", str(index), name), item))


def _checked_event(key: str, section_id: str, index: int, event: Any) -> Event:
    """An event with every field checked; a clear error for the first that is wrong."""
    where = f"event {index} of section {section_id!r}"
    if type(event) is not dict:
        raise InputError(f"{where} must be a JSON object, found {json_kind(event)}", profile_key=key)
    type_id = event.get("typeId")
    if type_id is None:
        raise InputError(f"{where} has no 'typeId'", profile_key=key)
    return Event(
        key,
        section_id,
        _text_id(event.get("correlationId"), "correlationId", where, key),
        cast(str, _text_id(type_id, "typeId", where, key)),  # not None: checked above
        _millis(event.get("sourceEventTime"), "sourceEventTime", where, key) or None,  # 0 means unknown
        _millis(event.get("createdAt"), "createdAt", where, key),
        event.get("data"),
    )


def _text_id(value: Any, name: str, where: str, key: str) -> str | None:
    """IDs are kept as text; a number is written as it appears."""
    if value is None or type(value) is str:
        return value
    if type(value) in (int, Decimal):
        return str(value)
    raise InputError(f"{where}: '{name}' must be a string, found {json_kind(value)}", profile_key=key)


def _millis(value: Any, name: str, where: str, key: str) -> int | None:
    """A time in ms since the epoch, checked to be an integer that ISO 8601 can show."""
    if value is None:
        return None
    if type(value) is not int and not (type(value) is Decimal and value == value.to_integral_value()):
        raise InputError(
            f"{where}: '{name}' must be an integer (ms since epoch), found {json_kind(value)}",
            profile_key=key,
        )
    if not _MIN_MS <= value <= _MAX_MS:
        raise InputError(f"{where}: '{name}' {value} is outside years 1..9999", profile_key=key)
    return int(value)  # (a Decimal only once in range: int() of a long one is quadratic)
