"""Whole-column JSON encoding must write exactly what value-by-value encoding writes.

``json_array`` encodes a column with one msgspec call; ``json_bytes`` (orjson) is
the reference for each value. The JSONL sink, which joins such columns into lines,
must equal lines built row by row from the reference.
"""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apsis_export._encode import iso_millis, iso_millis_json, json_array, json_bytes
from apsis_export._records import Event
from apsis_export._schema import EVENTS
from apsis_export.sinks._jsonl import _lines

_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=8)  # any character but a lone surrogate
_decimals = st.decimals(allow_nan=False, allow_infinity=False) | st.sampled_from(
    [
        Decimal("1E+400"),
        Decimal("-0.0"),
        Decimal("1E+2"),
        Decimal("0.000001"),
        Decimal("1e-7"),
        Decimal("123.4500"),
    ]
)
_scalars = st.none() | st.booleans() | st.integers(min_value=-(10**40), max_value=10**40) | _decimals | _text
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=10,
)
_times = st.none() | st.integers(min_value=-62_135_596_800_000, max_value=253_402_300_799_999)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(st.lists(_values, max_size=20))
def test_json_array_equals_json_bytes_value_by_value(column):
    expected = [json_bytes(v).decode() for v in column]
    assert json_array(column, nulls=False).to_pylist() == expected
    assert json_array(column).to_pylist() == [
        None if v is None else text for v, text in zip(column, expected, strict=True)
    ]


def test_a_value_msgspec_refuses_gets_json_bytes_error():
    try:
        json_bytes("\ud800")
    except TypeError as exc:
        expected = str(exc)
    try:
        json_array(["ok", "\ud800"])
    except TypeError as exc:
        assert str(exc) == expected
    else:
        raise AssertionError("no error")


@settings(max_examples=100, deadline=None)
@given(st.lists(_times, max_size=20))
def test_iso_millis_json_equals_quoted_iso_millis(column):
    assert iso_millis_json(column).to_pylist() == [orjson.dumps(iso_millis(v)).decode() for v in column]


_events = st.builds(Event, _text, _text, st.none() | _text, _text, st.none() | _times, _times, _values)


@settings(max_examples=100, deadline=None)
@given(st.lists(_events, max_size=20))
def test_jsonl_lines_equal_row_by_row_encoding(events):
    def line(event: Event) -> bytes:
        fields = []
        for column in EVENTS.columns:
            value = getattr(event, column.name)
            text = orjson.dumps(iso_millis(value)) if column.kind == "timestamp" else json_bytes(value)
            fields.append(orjson.dumps(column.name) + b":" + text)
        return b"{" + b",".join(fields) + b"}\n"

    assert bytes(_lines(EVENTS)(events)) == b"".join(map(line, events))
