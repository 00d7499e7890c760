"""The output contract: which tables exist and what their columns are.

Every sink writes the same columns; a column's *kind* tells each format how to
represent its values (see docs/output-schema.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

#: Column kinds.
STRING = "string"  # text or null
VALUE = "value"  # an attribute value: native in JSONL, text elsewhere (strings unquoted)
JSON = "json"  # any JSON value: native in JSONL, compact JSON text elsewhere
TIMESTAMP = "timestamp"  # ms since epoch: timestamp[ms, UTC] in Parquet, ISO 8601 text elsewhere
BOOLEAN = "boolean"  # true/false or null: bool in Parquet and JSONL, true/false text in CSV
# Typed values (see _types.py): what an attribute or event-data field is converted to.
INTEGER = "integer"  # int64
DECIMAL = "decimal"  # exact decimal: decimal128(38, Column.scale) in Parquet, digits as written elsewhere
DATE = "date"  # days since epoch: date32 in Parquet, YYYY-MM-DD text elsewhere

#: The range of an INTEGER value; the day a DATE value counts from (its proleptic ordinal).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
EPOCH_DAY = date(1970, 1, 1).toordinal()

#: Digits after the point of a *declared* decimal attribute (discovered ones keep the most seen).
DECLARED_DECIMAL_SCALE = 10


#: Batches and row groups of a table wider than this get proportionally fewer rows.
NARROW_COLUMNS = 16


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    scale: int = 0  # digits after the point, for DECIMAL columns


@dataclass(frozen=True)
class Table:
    """One output table: its name (also the file's stem) and its columns in order."""

    name: str
    columns: tuple[Column, ...]
    #: Rows are tuples of values in column order (tables whose columns depend on the data:
    #: profiles, events_<type>), rather than records whose attributes are the column names.
    tuple_rows: bool = False

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def scaled_rows(self, rows: int) -> int:
        """``rows`` for a table of up to NARROW_COLUMNS columns, proportionally fewer for a
        wider one (the wide layout's profiles table): buffers then hold about as many values."""
        return max(1, rows * NARROW_COLUMNS // max(NARROW_COLUMNS, len(self.columns)))


ATTRIBUTES = Table(
    "attributes",
    (
        Column("profile_key", STRING),
        Column("section_id", STRING),
        Column("attribute_id", STRING),
        Column("value", VALUE),
        Column("value_type", STRING),
    ),
)
EVENTS = Table(
    "events",
    (
        Column("profile_key", STRING),
        Column("section_id", STRING),
        Column("correlation_id", STRING),
        Column("type_id", STRING),
        Column("source_event_time", TIMESTAMP),
        Column("created_at", TIMESTAMP),
        Column("data", JSON),
    ),
)
EXTRAS = Table(
    "extras",
    (
        Column("profile_key", STRING),
        Column("section_id", STRING),
        Column("key", STRING),
        Column("value", JSON),
    ),
)

TABLES: dict[str, Table] = {t.name: t for t in (ATTRIBUTES, EVENTS, EXTRAS)}

#: The tables with name columns from metadata (``--names``): the same columns, then the names.
NAMED_TABLES: dict[str, Table] = {
    "attributes": Table(
        "attributes",
        (
            *ATTRIBUTES.columns,
            Column("section_name", STRING),
            Column("attribute_name", STRING),
            Column("is_tag", BOOLEAN),
            Column("declared_type", STRING),
            # The value converted to its declared type, in the column of that type (see _types.py).
            Column("value_boolean", BOOLEAN),
            Column("value_integer", INTEGER),
            Column("value_decimal", DECIMAL, scale=DECLARED_DECIMAL_SCALE),
            Column("value_date", DATE),
            Column("value_timestamp", TIMESTAMP),
        ),
    ),
    "events": Table("events", (*EVENTS.columns, Column("section_name", STRING), Column("type_name", STRING))),
    "extras": EXTRAS,
}
