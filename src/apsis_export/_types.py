"""Typed values: an attribute's declared type, a column's discovered type, and the
conversion of a parsed JSON value to either.

APSIS One declares an attribute as text, boolean, date (``YYYY-MM-DD``),
timestamp, number or decimal number. The value in the export file is whatever
JSON the API wrote (a string, a number, true/false); :func:`converter` turns it
into the column's type or raises :class:`Mismatch`. The converted values are
what every sink understands: ``bool``, ``int`` (int64), :class:`~decimal.Decimal`
(digits kept), days since the epoch for dates, milliseconds since the epoch
for timestamps, and text.

Without metadata, :class:`ValueStats` discovers a type from the values seen:
only JSON booleans make a boolean, only JSON numbers an integer or decimal,
only strings a date, timestamp or text. A string never becomes a number (a
postcode ``"01234"`` stays text).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from decimal import Context, Decimal, Inexact, InvalidOperation
from typing import Any

from ._encode import value_text
from ._errors import InputError
from ._schema import (
    BOOLEAN,
    DATE,
    DECIMAL,
    DECLARED_DECIMAL_SCALE,
    EPOCH_DAY,
    INT64_MAX,
    INT64_MIN,
    INTEGER,
    STRING,
    TIMESTAMP,
)

#: Digits of a decimal column in Parquet (decimal128).
DECIMAL_PRECISION = 38

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")
_NUMBER_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_DATE_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIMESTAMP_TEXT = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]+))?)?"
    r"(?:(Z)|([+-])([0-9]{2}):?([0-9]{2}))?)?"
)

#: Declared type names (lower case, as the metadata may spell them) → column kind.
_DECLARED = {
    "text": STRING,
    "string": STRING,
    "boolean": BOOLEAN,
    "bool": BOOLEAN,
    "number": INTEGER,
    "integer": INTEGER,
    "int": INTEGER,
    "long": INTEGER,
    "decimal": DECIMAL,
    "decimal number": DECIMAL,
    "decimal_number": DECIMAL,
    "decimalnumber": DECIMAL,
    "float": DECIMAL,
    "double": DECIMAL,
    "date": DATE,
    "timestamp": TIMESTAMP,
    "datetime": TIMESTAMP,
    "date_time": TIMESTAMP,
    "date time": TIMESTAMP,
}


class Mismatch(ValueError):
    """A value that does not fit its column's type."""


class TypedValues:
    """Converts values to their column's type and deals with those that do not fit: left
    null and counted in ``mismatches``, or with ``strict`` an InputError. One per conversion
    (or --jobs unit), shared by the named long tables and the wide ones."""

    def __init__(self, *, strict: bool = False):
        self.strict = strict
        self.mismatches = 0

    def convert(self, convert: Callable[[Any], Any], value: Any, what: str, profile_key: str | None) -> Any:
        """``convert(value)``, or None if it does not fit; ``what`` ends the error after the
        value (e.g. "for column 'Age' does not fit its type"): built once per column, not per value."""
        try:
            return convert(value)
        except Mismatch:
            if self.strict:
                raise InputError(f"value {value_text(value)!r} {what}", profile_key=profile_key) from None
            self.mismatches += 1
            return None


def declared_kind(declared_type: str | None) -> tuple[str, int]:
    """The column kind and decimal scale for a declared attribute type; unknown or
    missing types are text (every value fits)."""
    kind = _DECLARED.get((declared_type or "").strip().lower(), STRING)
    return kind, DECLARED_DECIMAL_SCALE if kind == DECIMAL else 0


def _boolean(value: Any) -> bool:
    if value is True or value is False:
        return value
    if type(value) is str and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise Mismatch


def _integer(value: Any) -> int:
    kind = type(value)
    if kind is int:
        number = value
    elif (
        kind is Decimal
        and value.is_finite()
        and value == value.to_integral_value()
        and (value.adjusted() < 19 or not value)
    ):
        number = int(value)  # (only when it may fit: int() of a long Decimal is quadratic)
    elif kind is str and _INTEGER_TEXT.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        raise Mismatch
    if not INT64_MIN <= number <= INT64_MAX:
        raise Mismatch
    return number


def _decimal(scale: int) -> Callable[[Any], Decimal]:
    quantum = Decimal(1).scaleb(-scale)
    context = Context(prec=DECIMAL_PRECISION, traps=[Inexact, InvalidOperation])

    def convert(value: Any) -> Decimal:
        kind = type(value)
        if kind is int:
            number = Decimal(value)
        elif kind is Decimal:
            number = value
        elif kind is str and _NUMBER_TEXT.fullmatch(value.strip()):
            number = Decimal(value.strip())
        else:
            raise Mismatch
        try:  # fits decimal128(38, scale) without rounding?
            context.quantize(number, quantum)
        except (Inexact, InvalidOperation):
            raise Mismatch from None
        return number  # the digits as written; Parquet rescales exactly

    return convert


def _date_of(text: str) -> date | None:
    """The day a ``YYYY-MM-DD`` text names; None if it names none."""
    if _DATE_TEXT.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    return None


def _date(value: Any) -> int:
    if type(value) is str and (day := _date_of(value)) is not None:
        return day.toordinal() - EPOCH_DAY
    raise Mismatch


def _datetime_parts(text: str) -> datetime:
    """``datetime.fromisoformat`` as Python 3.11 reads a text that _TIMESTAMP_TEXT matches.
    Python 3.10's takes no "Z", no offset without a colon and fractions of 3 or 6 digits only."""
    match = _TIMESTAMP_TEXT.fullmatch(text)
    if match is None:  # as datetime.fromisoformat does; callers match first
        raise ValueError(f"Invalid isoformat string: {text!r}")
    year, month, day, hour, minute, second, fraction, utc, sign, zone_hours, zone_minutes = match.groups()
    zone = (
        timezone.utc
        if utc
        else None
        if sign is None
        else timezone(
            (-1 if sign == "-" else 1) * timedelta(hours=int(zone_hours), minutes=int(zone_minutes))
        )
    )
    return datetime(
        int(year),
        int(month),
        int(day),
        int(hour or 0),
        int(minute or 0),
        int(second or 0),
        int(fraction[:6].ljust(6, "0")) if fraction else 0,
        zone,
    )


#: 3.11's own parser where there is one: it is about twice as fast.
_fromisoformat = datetime.fromisoformat if sys.version_info >= (3, 11) else _datetime_parts


def _moment_of(text: str) -> datetime | None:
    """The moment an ISO 8601 text names (naive without an offset); None if it names none."""
    if _TIMESTAMP_TEXT.fullmatch(text):
        try:
            return _fromisoformat(text.replace(",", "."))
        except ValueError:
            pass
    return None


def _timestamp(value: Any) -> int:
    """ISO 8601 text (no offset: UTC; a date alone: its midnight) or milliseconds since the
    epoch → milliseconds since the epoch (sub-millisecond digits dropped)."""
    kind = type(value)
    if kind is int:
        return value
    if kind is str and (moment := _moment_of(value)) is not None:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        delta = moment - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
    raise Mismatch


def converter(kind: str, scale: int = 0) -> Callable[[Any], Any]:
    """A function from a non-null parsed value to ``kind``'s value; raises :class:`Mismatch`."""
    if kind == STRING:
        return value_text
    if kind == DECIMAL:
        return _decimal(scale)
    return {BOOLEAN: _boolean, INTEGER: _integer, DATE: _date, TIMESTAMP: _timestamp}[kind]


class ValueStats:
    """The type of a column discovered from its values: see the module docstring."""

    __slots__ = (
        "decimal_digits",
        "decimals",
        "highest",
        "lowest",
        "scale",
        "seen",
        "settled",
        "strings_dates",
        "strings_timestamps",
    )

    def __init__(self) -> None:
        self.seen: set[type] = set()  # Python types of the non-null values
        self.settled: set[type] = {type(None)}  # types whose further values can change nothing
        self.strings_dates = self.strings_timestamps = True
        self.lowest = self.highest = 0  # integers seen
        self.decimals = False  # a non-integer number seen
        self.scale = self.decimal_digits = 0  # most digits after / before the point of those

    def add(self, value: Any) -> None:
        """Learn from one value (called for every value of a file: the common case, a
        type whose further values can change nothing, returns at once)."""
        kind = type(value)
        if kind in self.settled:
            return
        self.seen.add(kind)
        if kind is str:
            # (the parse alone: what _date and _timestamp accept, without their arithmetic)
            if self.strings_dates and _date_of(value) is None:
                self.strings_dates = False
            if self.strings_timestamps and _moment_of(value) is None:
                self.strings_timestamps = False
            if not (self.strings_dates or self.strings_timestamps):
                self.settled.add(str)
        elif kind is int:
            if value > self.highest:
                self.highest = value
            elif value < self.lowest:
                self.lowest = value
        elif kind is Decimal:
            self.decimals = True
            exponent = value.as_tuple().exponent
            if isinstance(exponent, int):  # not NaN/Infinity (the parsers never give those)
                self.scale = max(self.scale, -exponent)
                self.decimal_digits = max(self.decimal_digits, value.adjusted() + 1)
        else:  # bool, dict, list: the type is all there is to learn
            self.settled.add(kind)

    def merge(self, other: ValueStats) -> None:
        self.seen |= other.seen
        self.settled |= other.settled
        self.strings_dates &= other.strings_dates
        self.strings_timestamps &= other.strings_timestamps
        self.lowest, self.highest = min(self.lowest, other.lowest), max(self.highest, other.highest)
        self.decimals |= other.decimals
        self.scale = max(self.scale, other.scale)
        self.decimal_digits = max(self.decimal_digits, other.decimal_digits)

    @property
    def any_value(self) -> bool:
        """False when every value was null (a tag, or an attribute nobody filled)."""
        return bool(self.seen)

    def kind(self) -> tuple[str, int]:
        """The discovered column kind and decimal scale (text when the values disagree)."""
        seen = self.seen
        if seen == {bool}:
            return BOOLEAN, 0
        if seen and seen <= {int, Decimal}:
            if not self.decimals and INT64_MIN <= self.lowest and self.highest <= INT64_MAX:
                return INTEGER, 0
            integer_digits = max(len(str(self.highest)), len(str(-self.lowest)), self.decimal_digits)
            if self.scale + integer_digits <= DECIMAL_PRECISION:
                return DECIMAL, self.scale
        if seen == {str}:
            if self.strings_dates:
                return DATE, 0
            if self.strings_timestamps:
                return TIMESTAMP, 0
        return STRING, 0
