"""The fast engine's typed path (profiles in the common shape decoded into msgspec structs)
must give what the general mapping gives the same text: the same records, or the same error.

Each case is one profile member's text, mapped both ways: by ``read_profile`` (typed
when the shape allows, else general) and by ``profile_records`` on the plain decoded
value. Cases near the edges of the common shape check that the typed path either
agrees or declines (and the general mapping then decides).
"""

from __future__ import annotations

import json

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apsis_export import InputError
from apsis_export._engines._decode import _TYPED_DECODERS, decode_member, read_profile
from apsis_export._shape import BARE, WRAPPED, profile_records

MIN_MS, MAX_MS = -62_135_596_800_000, 253_402_300_799_999


def mapped(text: bytes, layout: str, general: bool):
    """The records (or error) of a member's text, by the typed-first path or the general mapping."""
    try:
        if general:
            key, value = decode_member(text)
            return profile_records(key, value, layout)
        return read_profile(text, layout)
    except InputError as error:
        return ("error", error.problem, error.profile_key)


def assert_same(text: bytes, layout: str) -> None:
    assert mapped(text, layout, general=False) == mapped(text, layout, general=True)


def typed(text: bytes, layout: str) -> bool:
    """True when the member decodes into the typed structs."""
    try:
        _TYPED_DECODERS[layout].decode(b"{" + text + b"}")
    except msgspec.DecodeError:  # and ValidationError (a ValueError only from msgspec 0.21)
        return False
    return True


def member(profile, layout: str) -> bytes:
    return b'"p1":' + json.dumps({"sections": profile} if layout == WRAPPED else profile).encode()


EVENT = {
    "correlationId": "c",
    "sourceEventTime": 0,
    "typeId": "t",
    "createdAt": 1700000000000,
    "data": {"x": 1.50},
}
COMMON = [
    {
        "s": {
            "attributes": {"a": {"value": 1.50}, "b": {"value": None}, "c": {"value": [1, {"d": 10**30}]}},
            "events": [EVENT],
        }
    },
    {"s": {}, "t": {"events": []}, "u": {"attributes": {}}},
    {"s": {"events": [{"typeId": "t"}, {**EVENT, "correlationId": None, "data": None}]}},
    {"s": {"events": [{**EVENT, "sourceEventTime": MIN_MS, "createdAt": MAX_MS}]}},
    {},
]
EDGES = [
    {"s": {"attributes": {"a": {"value": 1, "history": []}}}},  # an unknown key: an extra
    {"s": {"attributes": {"a": {}}}},  # no value
    {"s": {"attributes": {"a": None}}},
    {"s": {"attributes": []}},
    {"s": {"events": {}}},
    {"s": {"events": [None]}},
    {"s": {"events": [{**EVENT, "typeId": None}]}},
    {"s": {"events": [{**EVENT, "typeId": 42}]}},  # a number ID is kept as text
    {"s": {"events": [{**EVENT, "correlationId": 7}]}},
    {"s": {"events": [{**EVENT, "createdAt": MAX_MS + 1}]}},
    {"s": {"events": [{**EVENT, "sourceEventTime": MIN_MS - 1}]}},
    {"s": {"events": [{**EVENT, "createdAt": 1.0}]}},
    {"s": {"events": [{**EVENT, "createdAt": True}]}},
    {"s": {"events": [{**EVENT, "createdAt": "1"}]}},
    {"s": {"events": [{**EVENT, "extra": 1}]}},
    {"s": {"other": 1}},
    {"s": None},
    {"s": []},
]


@pytest.mark.parametrize("layout", [WRAPPED, BARE])
@pytest.mark.parametrize("profile", COMMON)
def test_common_shape_takes_the_typed_path(profile, layout):
    text = member(profile, layout)
    assert typed(text, layout)
    assert_same(text, layout)


@pytest.mark.parametrize("layout", [WRAPPED, BARE])
@pytest.mark.parametrize("profile", EDGES)
def test_edges_decline_the_typed_path(profile, layout):
    text = member(profile, layout)
    assert not typed(text, layout)
    assert_same(text, layout)


@pytest.mark.parametrize(
    "text",
    [
        b'"p1":{"sections":{"s":{"attributes":{"a":{"value":1},"a":{"value":2}}}}}',  # duplicate keys: the last wins
        b'"p1":{"sections":{"s":{"attributes":{"a":{"value":1,"value":2}}}}}',
        b'"p1":{"sections":{"s":{"events":[{"typeId":"a","typeId":"b"}]}}}',
        b'"p1":{"sections":{"s":{"attributes":{"a":{"value":1}}},"s":{"events":[]}}}',
        b'"p1":{"sections":{"s":{"attributes":{"a":{"value":1}}}},"sections":{"t":{}}}',
        b'"p1":{"sections":{"s":{"attributes":{"a":null}}},"sections":{"t":{}}}',
        b'"p1":{"sections":{"s":{"attributes":{"a":{"value":"\\u00e9\\ud83c\\udf89"}}}}}',
        b'"p1":{"sections":{"s":{"attributes":{"a":{"value":-0.0}, "b":{"value":1E+2}}}}}',
        b'"p1":{"other":1}',
        b'"p1":[]',
        b'"p1":{"sections":[]}',
    ],
)
def test_tricky_texts(text):
    assert_same(text, WRAPPED)


_ids = st.text(min_size=0, max_size=3)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**25), max_value=10**25),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_ids, inner, max_size=3),
    max_leaves=6,
)
_times = st.one_of(
    st.none(),
    st.integers(min_value=MIN_MS - 2, max_value=MIN_MS + 2),
    st.integers(min_value=MAX_MS - 2, max_value=MAX_MS + 2),
    st.integers(min_value=0, max_value=10**13),
)
_events = st.fixed_dictionaries(
    {"typeId": st.one_of(_ids, st.none(), st.integers())},
    optional={
        "correlationId": st.one_of(_ids, st.none(), st.integers()),
        "sourceEventTime": _times,
        "createdAt": _times,
        "data": _values,
        "extra": _values,
    },
)
_attributes = st.dictionaries(
    _ids, st.fixed_dictionaries({}, optional={"value": _values, "history": _values}), max_size=4
)
_sections = st.dictionaries(
    _ids,
    st.fixed_dictionaries(
        {}, optional={"attributes": _attributes, "events": st.lists(_events, max_size=3), "other": _values}
    ),
    max_size=3,
)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(st.one_of(_sections, _values), st.sampled_from([WRAPPED, BARE]))
def test_invented_profiles(profile, layout):
    text = b'"p1":' + json.dumps({"sections": profile} if layout == WRAPPED else profile).encode()
    assert_same(text, layout)
