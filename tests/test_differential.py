"""The exact engine is the referee: the fast engine must give the same profiles, or the same error.

Same records, same error message, same byte offset, same profile key — on the
samples, the JSONTestSuite corpus, tricky hand-made cases, generated files,
block boundaries anywhere, and exports invented by hypothesis.
"""

from __future__ import annotations

import gzip
import io
import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import apsis_export
from apsis_export import InputError
from apsis_export._engines import _members

from .conftest import JSON_TEST_SUITE, SAMPLE_DATA


def outcome(data: bytes, engine: str, layout: str = "auto"):
    try:
        return ("ok", list(apsis_export.read_profiles(io.BytesIO(data), engine=engine, input_layout=layout)))
    except InputError as error:
        return ("error", error.problem, error.offset, error.profile_key)


def assert_same(data: bytes, layout: str = "auto"):
    """Same profiles, or the same error: message, profile key and — for invalid JSON — byte offset.

    A wrong shape is found after a whole profile is read: the exact engine reports
    how far its parser had read (up to 64 KiB further), the fast one the byte just
    after the profile, so there the fast offset may only be smaller.
    """
    exact, fast = outcome(data, "exact", layout), outcome(data, "fast", layout)
    if (
        exact[0] == "error"
        and fast[0] == "error"
        and not exact[1].startswith(("invalid JSON", "input is empty"))
    ):
        assert fast[1:4:2] == exact[1:4:2] and fast[2] <= exact[2], (fast, exact)
    else:
        assert fast == exact
    return exact


@pytest.mark.parametrize("name", ["tiny.json", "small.json", "small.json.gz"])
def test_samples_give_identical_profiles(name):
    data = (SAMPLE_DATA / name).read_bytes()
    assert assert_same(data)[0] == "ok"


@pytest.mark.parametrize("name", ["tiny.json", "small.json"])
def test_samples_give_byte_identical_jsonl(tmp_path, name):
    for engine in ("exact", "fast"):
        apsis_export.convert(
            SAMPLE_DATA / name,
            tmp_path / engine,
            format="jsonl",
            engine=engine,
            tables=["attributes", "events", "extras"],
        )
    for table in ("attributes", "events", "extras"):
        assert (tmp_path / "fast" / f"{table}.jsonl").read_bytes() == (
            tmp_path / "exact" / f"{table}.jsonl"
        ).read_bytes()


def test_json_test_suite_outcomes_are_identical():
    corpus = sorted(JSON_TEST_SUITE.glob("*.json"))
    assert len(corpus) == 318, "the vendored corpus under tests/data/JSONTestSuite is incomplete"
    for path in corpus:
        assert_same(path.read_bytes())


TRICKY = [
    b'{"id":0,}',
    b'{"p":{"s":{}},}',
    b'{"profiles":{"p":{},}}',
    b'{"profiles":{"p":{}},}',
    b'{"profiles":{"p":{}} x}',
    b'{"profiles":{"p":{}}} x',
    b'{"profiles":{"p":{}}}\n\t ',
    b'{"profiles":{}}',
    b"{}",
    b"",
    b"   ",
    b'[{"p":{}}]',
    b'{"profiles":[]}',
    b'{"profiles":{"p":[]}}',
    b'{"p":{"s":{}},"profiles":{}}',
    b'{"metadata":{"a":{"b":1}},"profiles":{"p":{"sections":{}}}}',
    b'{"a":1,"a":2}',
    b'{"p":{"s":{"attributes":{"a":{"value":"x\\\\"}}}},"q":{"s":{}}}',
    b'{"p":{"s":{"attributes":{"a":{"value":"\\"}{,\\\\\\"]"}}}},"q":{"s":{}}}',
    b'{"p":{"s":{"attributes":{"a":{"value":"\\ud800"}}}},"q":{"s":{"attributes":{"b":{"value":1}}}}}',
    b'{"p":{"s":{"attributes":{"a":{"value":"caf\xc3\xa9 \xe6\x97\xa5\\u00e9\\ud83c\\udf89"}}}}}',
    b'{"p":{"s":{"attributes":{"a":{"value":"caf\xe9"}}}}}',
    b'{"p":{"s":{"attributes":{"a":{"value":123456789012345678901234567890}, "b":{"value":-0}, "c":{"value":1.50}, "d":{"value":2.5e-3}, "e":{"value":-0.0}, "f":{"value":1E400}}}}}',
    b'{"p":{"s":{"events":[{"typeId":"1","createdAt":1.0E3,"sourceEventTime":0,"x":[1,{}]}]}}}',
    b'{"p":{"s":{"events":[{"typeId":1,"correlationId":7,"createdAt":5}]}}}',
    b'{"p":{"s":{"events":[{"typeId":"1","createdAt":"5"}]}}}',
    b'{"p":{"s":{"events":{}}}}',
    b'{ "profiles" : { "p" : { "sections" : { "s" : { "attributes" : { "a" : { "value" : [ 1 , 2 ] } } } } } } , "metadata" : null }',
    b'{"profiles":{"p":{"sections":{"s":{"attributes":{"a":{"value":1}}}}}}',
    b'{"profiles":{"p":{"sections":{"s":{"attributes":{"a":{"value":1}]}}}}',
    b'{"profiles":{"p":{"sections":{"s":{}}}},"profiles":{"q":{"sections":{}}}}',
    b'{"p":{"s":{}}} {"q":{}}',
    b'\xef\xbb\xbf{"p":{}}',
    b'{"p":{"s":{}}}]',
]


@pytest.mark.parametrize("data", TRICKY, ids=range(len(TRICKY)))
@pytest.mark.parametrize("layout", ["auto", "wrapped", "bare"])
def test_tricky_documents(data, layout):
    assert_same(data, layout)


@pytest.mark.parametrize("depth", [190, 196, 198, 199, 200, 201, 202, 260])
def test_nesting_around_the_depth_limit(depth):
    value = "[" * depth + "]" * depth
    bare = '{"p":{"s":{"attributes":{"a":{"value":%s}}}}}' % value
    wrapped = '{"profiles":{"p":{"sections":{"s":{"events":[{"typeId":"1","data":%s}]}}}}}' % value
    for doc in (bare, wrapped):
        assert_same(doc.encode())


@pytest.mark.parametrize("block", [1, 2, 3, 7, 64, 1000])
def test_block_boundaries_anywhere(monkeypatch, block):
    monkeypatch.setattr(_members, "BLOCK_SIZE", block)
    for data in [(SAMPLE_DATA / "tiny.json").read_bytes(), *TRICKY[16:24]]:
        assert_same(data)


def test_generated_bare_file_with_small_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(_members, "BLOCK_SIZE", 4099)
    stats = apsis_export.generate(tmp_path / "g.json.gz", size=300_000, seed=9, layout="bare", gzip=True)
    assert assert_same(stats.path.read_bytes())[0] == "ok"


def test_truncation_anywhere_gives_the_same_error():
    data = (SAMPLE_DATA / "tiny.json").read_bytes()
    for cut in range(0, len(data), 37):
        assert_same(data[:cut])


def test_corruption_anywhere_gives_the_same_outcome():
    data = (SAMPLE_DATA / "tiny.json").read_bytes()
    rng = random.Random(4)
    for _ in range(150):
        pos = rng.randrange(len(data))
        assert_same(data[:pos] + bytes([rng.choice(b'{}[],:"\\ x0\x01\xff')]) + data[pos + 1 :])


def test_gzip_input_and_its_chunking_do_not_matter():
    data = (SAMPLE_DATA / "small.json").read_bytes()
    packed = gzip.compress(data)
    assert outcome(packed, "fast") == outcome(data, "exact") == outcome(data, "fast")


# --- invented exports ------------------------------------------------------------------------

keys = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=8
) | st.sampled_from(['"', "\\", '\\"', "}", ",", "profiles", "metadata", "sections"])
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.text(max_size=12)
    | st.decimals(allow_nan=False, allow_infinity=False, places=3)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=8,
)
millis = st.integers(min_value=0, max_value=2**41) | st.just(0) | st.none()
events = st.fixed_dictionaries(
    {"typeId": st.text(max_size=4) | st.integers(0, 99)},
    optional={
        "correlationId": st.text(max_size=4) | st.none(),
        "sourceEventTime": millis,
        "createdAt": millis,
        "data": values,
        "extra": values,
    },
)
attributes = st.dictionaries(
    keys, st.fixed_dictionaries({"value": values}, optional={"history": values}), max_size=4
)
sections = st.dictionaries(
    keys,
    st.fixed_dictionaries(
        {}, optional={"attributes": attributes, "events": st.lists(events, max_size=3), "topics": values}
    ),
    max_size=3,
)
exports = st.dictionaries(keys, sections, max_size=4)


def to_json(value, rng: random.Random) -> str:
    """JSON text with random whitespace and escaping, numbers written as they are."""
    ws = lambda: rng.choice(["", "", " ", "\n", "\t ", "\r\n"])  # noqa: E731
    if isinstance(value, dict):
        return (
            "{"
            + ws()
            + ",".join(
                f"{ws()}{to_json(k, rng)}{ws()}:{ws()}{to_json(v, rng)}{ws()}" for k, v in value.items()
            )
            + "}"
        )
    if isinstance(value, list):
        return "[" + ",".join(ws() + to_json(v, rng) + ws() for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=rng.random() < 0.5)
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    return str(value)


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    exports,
    st.sampled_from(["wrapped", "bare"]),
    st.integers(0, 2**32),
    st.sampled_from([5, 64, 4096, 1 << 22]),
)
def test_invented_exports_give_identical_outcomes(export, layout, seed, block):
    rng = random.Random(seed)
    doc = (
        {"profiles": {k: {"sections": v} for k, v in export.items()}, "metadata": {"n": len(export)}}
        if layout == "wrapped"
        else export
    )
    data = to_json(doc, rng).encode()
    original = _members.BLOCK_SIZE
    _members.BLOCK_SIZE = block
    try:
        for forced in ("auto", layout):
            assert_same(data, forced)
    finally:
        _members.BLOCK_SIZE = original
