"""Turning record values into text: the rules every sink shares."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import date as _date
from decimal import Decimal
from typing import Any, overload

import msgspec
import numpy as np
import orjson
import pyarrow as pa

from ._schema import EPOCH_DAY, INT64_MIN


def _default(obj: Any) -> Any:
    if type(obj) is Decimal:
        return orjson.Fragment(str(obj))  # the digits exactly as parsed
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


#: The top of orjson's integer range (int64's lowest to uint64's highest).
_UINT64_MAX = 2**64 - 1


def _exact_ints(value: Any) -> Any:
    """``value`` with integers beyond orjson's 64-bit range replaced by their exact text."""
    kind = type(value)
    if kind is int:
        return value if INT64_MIN <= value <= _UINT64_MAX else orjson.Fragment(str(value))
    if kind is dict:
        return {k: _exact_ints(v) for k, v in value.items()}
    if kind is list:
        return [_exact_ints(v) for v in value]
    return value


def json_bytes(value: Any) -> bytes:
    """Compact JSON (UTF-8, no ASCII escaping), numbers exact whatever their size."""
    try:
        return orjson.dumps(value, default=_default)
    except TypeError:  # an integer beyond 64 bits: rare, so only then walk the value
        return orjson.dumps(_exact_ints(value), default=_default)


# Writes what json_bytes writes for every value an engine yields (str, int of any size,
# Decimal as its digits, bool, None, dict, list); tests/test_json_columns.py holds it to that.
_COLUMN_ENCODER = msgspec.json.Encoder(decimal_format="number")
_NEWLINE, _N = ord("\n"), ord("n")


def json_array(column: Sequence[Any], *, nulls: bool = True, large: bool = False) -> pa.Array:
    """:func:`json_bytes` of every value of a column as one Arrow string array (``large``:
    large_string), from a single msgspec call for the whole column. With ``nulls``, None
    is null (a missing value, not the text ``null``); without, it is the text ``null``."""
    kind, offset_type = (pa.large_string(), np.int64) if large else (pa.string(), np.int32)
    try:
        lines = _COLUMN_ENCODER.encode_lines(column)  # each value's JSON, then a newline
    except (TypeError, ValueError):  # e.g. a lone surrogate: value by value, with json_bytes' error
        lines = None
    if lines is None or (not large and len(lines) >= 2**31):  # (too long for 32-bit offsets)
        return pa.array([None if v is None and nulls else json_bytes(v).decode() for v in column], kind)
    # Compact JSON holds no raw newline: the n-th newline ends the n-th value.
    ends = np.flatnonzero(np.frombuffer(lines, np.uint8) == _NEWLINE)
    offsets = np.zeros(len(ends) + 1, offset_type)
    offsets[1:] = ends - np.arange(len(ends))
    data = lines.replace(b"\n", b"")
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    if nulls and len(ends):
        starts = offsets[:-1]
        valid = ~((offsets[1:] - starts == 4) & (np.frombuffer(data, np.uint8)[starts] == _N))  # not "null"
        if not valid.all():
            buffers[0] = pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(kind, len(ends), buffers)


def value_text(value: Any) -> str | None:
    """An attribute value as text: strings as they are, numbers in JSON notation,
    ``true``/``false``, None for null, objects and arrays as compact JSON."""
    kind = type(value)
    if kind is str or value is None:
        return value
    if kind is bool:
        return "true" if value else "false"
    if kind is int or kind is Decimal:
        return str(value)
    return json_bytes(value).decode()


def value_texts(column: Sequence[Any]) -> list[str | None]:
    """:func:`value_text` of each value of a column; strings and nulls, the most common, pass as they are."""
    return [v if v is None or type(v) is str else value_text(v) for v in column]


def iso_date(days: int | None) -> str | None:
    """Days since the epoch as an ISO 8601 date: 2024-05-01."""
    return None if days is None else _date.fromordinal(EPOCH_DAY + days).isoformat()


def decimal_text(value: Decimal | None) -> str | None:
    """An exact decimal with the digits as written."""
    return None if value is None else str(value)


@overload
def iso_millis(ms: int) -> str: ...
@overload
def iso_millis(ms: None) -> None: ...
def iso_millis(ms: int | None) -> str | None:
    """Milliseconds since the epoch as ISO 8601 UTC with milliseconds: 2024-05-01T12:00:00.123Z."""
    if ms is None:
        return None
    seconds, millis = divmod(ms, 1000)
    t = time.gmtime(seconds)
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{millis:03d}Z"


def iso_millis_array(column: Sequence[int | None], before: str = "", after: str = "Z") -> pa.Array:
    """:func:`iso_millis` for a whole column at once, as an Arrow string array, each text
    between ``before`` and ``after`` (vectorised in Arrow, several times faster)."""
    import pyarrow.compute as pc  # here: loading Arrow's compute kernels costs memory Parquet runs do not need

    text = pa.array(column, pa.timestamp("ms")).cast(pa.string())  # 2024-05-01 12:00:00.123
    text = pc.replace_substring(text, " ", "T", max_replacements=1)
    return pc.binary_join_element_wise(before, text, after, "")


def iso_millis_json(column: Sequence[int | None]) -> pa.Array:
    """Each time of a column as JSON: its :func:`iso_millis` text quoted, None as ``null`` (an Arrow string array)."""
    return iso_millis_array(column, '"', 'Z"').fill_null("null")
