"""Typed values: conversion to a declared type, and the type discovered from values."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apsis_export._types import Mismatch, ValueStats, converter, declared_kind

FITS = [
    ("boolean", True, True),
    ("boolean", " FALSE ", False),
    ("integer", 42, 42),
    ("integer", "-17", -17),
    ("integer", Decimal("12.000"), 12),
    ("integer", 2**63 - 1, 2**63 - 1),
    ("decimal", 5, Decimal(5)),
    ("decimal", Decimal("1234.50"), Decimal("1234.50")),
    ("decimal", "0.0000000001", Decimal("1E-10")),
    ("decimal", Decimal("1.50000000000000"), Decimal("1.50000000000000")),  # trailing zeros beyond the scale
    ("date", "1970-01-02", 1),
    ("date", "2024-05-01", 19844),
    ("timestamp", "2024-05-01T12:00:00.123Z", 1714564800123),
    ("timestamp", "2024-05-01T14:00:00.123+02:00", 1714564800123),
    ("timestamp", "2024-05-01 12:00", 1714564800000),  # no offset: UTC
    ("timestamp", "2024-05-01", 1714521600000),  # a date alone: its midnight
    ("timestamp", "1969-12-31T23:59:59.999Z", -1),
    ("timestamp", 1714564800123, 1714564800123),  # ms since the epoch, as the export's own times
    ("string", 12, "12"),
    ("string", Decimal("2.50"), "2.50"),
    ("string", {"a": [1]}, '{"a":[1]}'),
]


@pytest.mark.parametrize("kind,value,expected", FITS)
def test_values_that_fit_are_converted_exactly(kind, value, expected):
    converted = converter(kind, 10)(value)
    assert converted == expected and type(converted) is type(expected)


MISFITS = [
    ("boolean", 1),
    ("boolean", "yes"),
    ("integer", True),
    ("integer", "1.5"),
    ("integer", Decimal("1.5")),
    ("integer", 2**63),
    ("integer", "1_000"),
    ("integer", "12abc"),
    ("decimal", Decimal("1E-11")),
    ("decimal", "abc"),
    ("decimal", 10**29),
    ("decimal", True),
    ("date", "2024-02-30"),
    ("date", "2024-05-01T00:00:00Z"),
    ("date", 19844),
    ("timestamp", "yesterday"),
    ("timestamp", "2024-13-01T00:00:00Z"),
    ("timestamp", True),
]


@pytest.mark.parametrize("kind,value", MISFITS)
def test_values_that_do_not_fit_raise_mismatch(kind, value):
    with pytest.raises(Mismatch):
        converter(kind, 10)(value)


def test_declared_types_as_the_metadata_may_spell_them():
    assert declared_kind("TEXT") == ("string", 0)
    assert declared_kind("Decimal Number") == ("decimal", 10)
    assert declared_kind("number") == ("integer", 0)
    assert declared_kind("Timestamp") == ("timestamp", 0)
    assert declared_kind(None) == declared_kind("colour") == ("string", 0)  # unknown: text, every value fits


def discovered(*values):
    stats = ValueStats()
    for value in values:
        stats.add(value)
    return stats.kind()


def test_discovery_follows_the_json_types():
    assert discovered(True, None, False) == ("boolean", 0)
    assert discovered(1, -5, None) == ("integer", 0)
    assert discovered(1, Decimal("2.50"), Decimal("0.125")) == ("decimal", 3)
    assert discovered(2**70, 1) == ("decimal", 0)  # beyond int64: exact decimal, not float
    assert discovered("2024-05-01", "1999-12-31") == ("date", 0)
    assert discovered("2024-05-01T12:00:00Z", "2024-05-01 13:00") == ("timestamp", 0)
    assert discovered("2024-05-01", "2024-05-01T12:00:00Z") == ("timestamp", 0)  # both fit a timestamp
    assert discovered("2024-02-30") == ("string", 0)  # looks like a date, is not one
    assert discovered("01234", "42") == ("string", 0)  # a string never becomes a number
    assert discovered("true") == ("string", 0)
    assert discovered(1, "1") == ("string", 0)  # types disagree: text
    assert discovered({"a": 1}) == ("string", 0)
    assert discovered(Decimal("1E-40")) == ("string", 0)  # more digits than decimal128 holds
    assert discovered(None, None) == ("string", 0) and not ValueStats().any_value


def test_discovered_types_convert_every_value_they_saw():
    samples = [
        [True, False],
        [1, 2**63 - 1],
        [1, Decimal("2.50"), 2**70],
        ["2024-05-01"],
        ["2024-05-01T12:00:00+02:00"],
        ["x", 1, None],
    ]
    for values in samples:
        kind, scale = discovered(*values)
        convert = converter(kind, scale)
        for value in values:
            if value is not None:
                convert(value)  # must not raise


def test_merged_stats_equal_stats_of_all_values():
    a, b = ValueStats(), ValueStats()
    for v in (1, Decimal("2.5")):
        a.add(v)
    for v in (Decimal("0.125"), 3):
        b.add(v)
    a.merge(b)
    assert a.kind() == discovered(1, Decimal("2.5"), Decimal("0.125"), 3) == ("decimal", 3)
