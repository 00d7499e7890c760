"""Names and declared types of sections, attributes, tags and event types.

An export is keyed by opaque IDs. :class:`Metadata` holds the account's
definitions — loaded from the API (``Client.sections()``, ``.attributes()``,
``.tags()``, ``.events()``) or from a JSON file saved earlier, so conversions
can run offline — and looks them up by any ID form: numeric ID, discriminator,
or version ID. Which form keys the export file is not documented, so all are
indexed. The attribute type's field name is not documented either: ``type``,
``data_type``, ``dataType`` and ``value_type`` are tried, in that order.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ._errors import ApsisExportError
from ._files import write_text_whole
from ._records import Attribute, Event, NamedAttribute, NamedEvent
from ._schema import BOOLEAN, DATE, DECIMAL, INTEGER, TIMESTAMP
from ._types import TypedValues, converter, declared_kind

FILE_FORMAT = "apsis-export metadata 1"
_KINDS = ("attributes", "tags", "events")
_TYPE_FIELDS = ("type", "data_type", "dataType", "value_type")


class MetadataError(ApsisExportError):
    """A metadata file that cannot be read or is not one apsis-export wrote."""


@dataclass(frozen=True)
class Definition:
    """One section, attribute, tag or event type as the API defines it."""

    kind: str  # "section", "attribute", "tag" or "event"
    name: str | None
    discriminator: str | None
    section: str | None = None  # the section's discriminator (None for a section)
    declared_type: str | None = None  # attributes: text, boolean, date, timestamp, number, decimal...
    ids: tuple[str, ...] = ()  # every ID it may be known by (see id_forms)
    section_ids: tuple[str, ...] = ()  # every ID of its section


def id_forms(item: dict[str, Any]) -> list[str]:
    """Every ID an item may be known by: discriminator, ID and version IDs, as text."""
    ids = [item.get("discriminator"), item.get("id")]
    ids += [v.get("id") for v in item.get("versions") or () if isinstance(v, dict)]
    return [str(i) for i in ids if i is not None and i != ""]


class Metadata:
    """Definitions looked up by any of their IDs; ``raw`` is what the API answered."""

    def __init__(self, sections: list[dict[str, Any]]):
        self.raw = sections
        self._sections: dict[str, Definition] = {}
        self._items: dict[str, dict[str, Definition | None]] = {"attribute": {}, "tag": {}, "event": {}}
        self._scoped: dict[tuple[str, str, str], Definition] = {}
        #: Every attribute and tag definition, in the order the sections list them.
        self.attributes_and_tags: list[Definition] = []
        for section in sections:
            if not isinstance(section, dict):
                raise MetadataError(f"a section must be a JSON object, found {type(section).__name__}")
            section_ids = tuple(id_forms(section))
            defn = Definition("section", section.get("name"), section.get("discriminator"), ids=section_ids)
            for key in section_ids:
                self._sections[key] = defn
            for plural in _KINDS:
                kind = plural[:-1]
                for item in section.get(plural) or ():
                    declared = (
                        next((str(item[f]).lower() for f in _TYPE_FIELDS if item.get(f)), None)
                        if kind == "attribute"
                        else None
                    )
                    ids = tuple(id_forms(item))
                    item_defn = Definition(
                        kind,
                        item.get("name"),
                        item.get("discriminator"),
                        defn.discriminator,
                        declared,
                        ids,
                        section_ids,
                    )
                    if kind != "event" and ids:
                        self.attributes_and_tags.append(item_defn)
                    for key in ids:
                        self._scoped[(kind, defn.discriminator or "", key)] = item_defn
                        index = self._items[kind]
                        index[key] = (
                            item_defn if index.get(key, item_defn) == item_defn else None
                        )  # None: ambiguous

    # -- loading and saving ---------------------------------------------------------------------

    @classmethod
    def from_api(cls, client: Any) -> Metadata:
        """Every section with its attributes, tags and events, from an ``apsis_export.Client``."""
        sections = []
        for section in client.sections():
            discriminator = section.get("discriminator")
            full = dict(section)
            for plural in _KINDS:
                full[plural] = getattr(client, plural)(discriminator) if discriminator else []
            sections.append(full)
        return cls(sections)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Metadata:
        """Read a file written by :meth:`save`."""
        try:
            data = orjson.loads(Path(path).read_bytes())
        except OSError as exc:
            raise MetadataError(f"cannot read metadata {path}: {exc.strerror or exc}") from None
        except orjson.JSONDecodeError as exc:
            raise MetadataError(f"metadata {path} is not valid JSON: {exc}") from None
        if (
            not isinstance(data, dict)
            or data.get("format") != FILE_FORMAT
            or not isinstance(data.get("sections"), list)
        ):
            raise MetadataError(f"{path} is not a metadata file written by 'apsis-export metadata --save'")
        return cls(data["sections"])

    def to_json(self) -> str:
        """The definitions as the JSON that :meth:`save` writes and :meth:`load` reads."""
        return orjson.dumps(
            {"format": FILE_FORMAT, "sections": self.raw}, option=orjson.OPT_INDENT_2
        ).decode()

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the definitions as JSON (complete, or not at all)."""
        return write_text_whole(path, self.to_json(), MetadataError)

    # -- lookups --------------------------------------------------------------------------------

    def section(self, section_id: str) -> Definition | None:
        return self._sections.get(section_id)

    def _item(self, kinds: Iterable[str], section_id: str, item_id: str) -> Definition | None:
        section = self._sections.get(section_id)
        for kind in kinds:
            if section is not None and (
                found := self._scoped.get((kind, section.discriminator or "", item_id))
            ):
                return found
        for kind in kinds:
            if found := self._items[kind].get(item_id):
                return found
        return None

    def attribute(self, section_id: str, attribute_id: str) -> Definition | None:
        """The attribute or tag ``attribute_id`` of a section (``kind`` tells which)."""
        return self._item(("attribute", "tag"), section_id, attribute_id)

    def event_type(self, section_id: str, type_id: str) -> Definition | None:
        return self._item(("event",), section_id, type_id)

    @property
    def counts(self) -> dict[str, int]:
        """How many sections, attributes, tags and event types are defined."""
        return {"sections": len(self.raw), **{k: sum(len(s.get(k) or ()) for s in self.raw) for k in _KINDS}}


#: The NamedAttribute field that holds a value converted to each declared kind.
_TYPED_FIELD = {BOOLEAN: 0, INTEGER: 1, DECIMAL: 2, DATE: 3, TIMESTAMP: 4}

#: What Namer keeps per (section, attribute) ID: the names NamedAttribute takes (section,
#: attribute, is_tag, declared type), and for a typed attribute its slot in the typed values,
#: the converter and the end of its error text; None for one kept as text.
_Names = tuple[str | None, str | None, bool | None, str | None]
_AttributeNaming = tuple[_Names, tuple[int, Callable[[Any], Any], str] | None]


class Namer:
    """Adds names (and values converted to their declared type) from metadata to records,
    and remembers the IDs it could not name and counts the values that did not convert.

    ``values`` converts and deals with values that do not fit (see TypedValues).
    """

    def __init__(self, metadata: Metadata, values: TypedValues | None = None):
        self.metadata = metadata
        self.values = values if values is not None else TypedValues()
        self.unknown: set[tuple[str, str]] = set()  # (kind, id) the metadata does not define
        self._attributes: dict[tuple[str, str], _AttributeNaming] = {}
        self._events: dict[tuple[str, str], tuple[str | None, str | None]] = {}

    def section_name(self, section_id: str) -> str | None:
        section = self.metadata.section(section_id)
        if section is None:
            self.unknown.add(("section", section_id))
        return section.name if section else None

    def attributes(self, records: Iterable[Attribute]) -> list[NamedAttribute]:
        out = []
        for r in records:
            key = (r.section_id, r.attribute_id)
            found = self._attributes.get(key)
            if found is None:
                defn = self.metadata.attribute(*key)
                if defn is None:
                    self.unknown.add(("attribute", r.attribute_id))
                    found = ((self.section_name(r.section_id), None, None, None), None)
                else:
                    names: _Names = (
                        self.section_name(r.section_id),
                        defn.name,
                        defn.kind == "tag",
                        defn.declared_type,
                    )
                    kind, scale = declared_kind(defn.declared_type)
                    slot = _TYPED_FIELD.get(kind) if defn.kind == "attribute" else None
                    what = (
                        f"of attribute {r.attribute_id!r} (section {r.section_id!r}) "
                        f"is not a {defn.declared_type or 'value of its type'}"
                    )
                    found = (names, (slot, converter(kind, scale), what) if slot is not None else None)
                self._attributes[key] = found
            names, typing = found
            typed = [None] * 5
            if typing is not None and r.value is not None:
                slot, convert, what = typing
                typed[slot] = self.values.convert(convert, r.value, what, r.profile_key)
            out.append(
                NamedAttribute(
                    r.profile_key, r.section_id, r.attribute_id, r.value, r.value_type, *names, *typed
                )
            )
        return out

    def event_names(self, section_id: str, type_id: str) -> tuple[str | None, str | None]:
        """``(section_name, type_name)`` of an event."""
        key = (section_id, type_id)
        names = self._events.get(key)
        if names is None:
            defn = self.metadata.event_type(*key)
            if defn is None:
                self.unknown.add(("event", type_id))
            names = self._events[key] = (self.section_name(section_id), defn.name if defn else None)
        return names

    def events(self, records: Iterable[Event]) -> list[NamedEvent]:
        return [
            NamedEvent(
                r.profile_key,
                r.section_id,
                r.correlation_id,
                r.type_id,
                r.source_event_time,
                r.created_at,
                r.data,
                *self.event_names(r.section_id, r.type_id),
            )
            for r in records
        ]
