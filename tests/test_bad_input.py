"""Bad input never crashes or passes silently: a clear InputError with where it happened."""

from __future__ import annotations

import contextlib
import gzip
import json
import signal
from decimal import Decimal

import pytest

import apsis_export
from apsis_export import InputError
from apsis_export._shape import WRAPPER_KEYS, document_extra, is_bare_profile, profile_records

from .conftest import JSON_TEST_SUITE, SAMPLE_DATA, wrapped


def read_all(source, **kw):
    return list(apsis_export.read(source, **kw))


def error_of(source, **kw) -> InputError:
    with pytest.raises(InputError) as info:
        read_all(source, **kw)
    return info.value


@pytest.mark.parametrize(
    "doc, problem",
    [
        ("[]", "the export must be a JSON object, found array"),
        ('"text"', "the export must be a JSON object, found string"),
        ('{"profiles": []}', "'profiles' must be a JSON object, found array"),
        ('{"profiles": {"p": []}}', "profile must be a JSON object, found array"),
        ('{"profiles": {"p": {"sections": 3}}}', "'sections' must be a JSON object, found number"),
        ('{"profiles": {"p": {"sections": {"s": "x"}}}}', "section 's' must be a JSON object, found string"),
        (
            '{"p": {"s": {"attributes": []}}}',
            "'attributes' of section 's' must be a JSON object, found array",
        ),
        (
            '{"p": {"s": {"attributes": {"a": 1}}}}',
            "attribute 'a' of section 's' must be a JSON object, found number",
        ),
        (
            '{"p": {"s": {"attributes": {"a": {"history": []}}}}}',
            "attribute 'a' of section 's' has no 'value'",
        ),
        ('{"p": {"s": {"events": {}}}}', "'events' of section 's' must be a JSON array, found object"),
        ('{"p": {"s": {"events": [1]}}}', "event 0 of section 's' must be a JSON object, found number"),
        ('{"p": {"s": {"events": [{"createdAt": 1}]}}}', "event 0 of section 's' has no 'typeId'"),
        ('{"p": {"s": {"events": [{"typeId": true}]}}}', "'typeId' must be a string, found boolean"),
        (
            '{"p": {"s": {"events": [{"typeId": "1", "createdAt": "2024-01-01"}]}}}',
            "'createdAt' must be an integer",
        ),
        ('{"p": {"s": {"events": [{"typeId": "1", "createdAt": 1.5}]}}}', "'createdAt' must be an integer"),
        (
            '{"p": {"s": {"events": [{"typeId": "1", "sourceEventTime": 99999999999999999}]}}}',
            "outside years 1..9999",
        ),
    ],
)
def test_wrong_shape_is_named_with_the_profile(write_export, doc, problem):
    error = error_of(write_export(doc))
    assert problem in error.problem
    assert error.offset is not None
    if '"p"' in doc:
        assert error.profile_key == "p"
        assert "in profile 'p'" in str(error)


def test_empty_file(write_export):
    assert error_of(write_export(b"")).problem == "input is empty"


def test_whitespace_only_file_ends_early(write_export):
    assert "ends early" in error_of(write_export(b"  \n ")).problem


def test_truncated_file_reports_offset_and_profile():
    data = (SAMPLE_DATA / "small.json").read_bytes()
    cut = len(data) // 2
    error = error_of(__import__("io").BytesIO(data[:cut]))
    assert "ends early" in error.problem
    assert error.offset == cut
    assert error.profile_key is not None and error.profile_key.startswith("p-")


def test_truncated_gzip_reports_offset(write_export):
    packed = (SAMPLE_DATA / "small.json.gz").read_bytes()
    error = error_of(write_export(packed[: len(packed) // 2], name="cut.json.gz"))
    assert "truncated gzip" in error.problem
    assert 0 < error.offset < len(gzip.decompress(packed))


def test_gzip_with_a_wrong_checksum_is_reported(write_export):
    packed = bytearray((SAMPLE_DATA / "small.json.gz").read_bytes())
    packed[-8] ^= 0xFF  # the CRC32 of the trailer
    error = error_of(write_export(bytes(packed)))
    assert error.problem.startswith(
        "corrupt gzip input: "
    )  # the wording is the inflater's (zlib, isal, zlib-ng)
    json_size = (SAMPLE_DATA / "small.json").stat().st_size
    assert (
        json_size - 256 * 1024 <= error.offset <= json_size
    )  # the checksum covers the member: found at its end


def test_garbled_gzip_body_is_an_input_error(write_export):
    packed = bytearray((SAMPLE_DATA / "small.json.gz").read_bytes())
    for i in range(len(packed) // 2, len(packed) // 2 + 64):
        packed[i] ^= 0x5A
    error = error_of(write_export(bytes(packed)))  # bad deflate data or the garbage it decodes to
    assert "gzip" in error.problem or error.problem.startswith("invalid JSON")


def test_invalid_utf8_is_reported(write_export):
    error = error_of(write_export(b'{"p": {"s": {"attributes": {"a": {"value": "caf\xe9"}}}}}'))
    assert "invalid bytes in UTF8 string" in error.problem


def test_trailing_garbage_is_reported(write_export):
    assert "trailing garbage" in error_of(write_export(b'{"p": {"s": {}}} x')).problem


def test_deep_nesting_is_refused_cleanly(write_export):
    deep = "[" * 5000 + "]" * 5000
    error = error_of(write_export('{"p": {"s": {"attributes": {"a": {"value": %s}}}}}' % deep))
    assert "nested deeper than" in error.problem and error.profile_key == "p"


@pytest.mark.parametrize("bad_at", [5, 1000, 65_530, 65_536, 70_000, 131_075, -20])
def test_syntax_error_offset_is_where_the_parser_stopped(write_export, bad_at):
    good = {f"p{i}": {"s": {"attributes": {"a": {"value": "x" * 100}}}} for i in range(2000)}
    text = json.dumps(wrapped(good)).encode()
    bad_at %= len(text)
    error = error_of(write_export(text[:bad_at] + b"\x01" + text[bad_at:]))
    assert bad_at <= error.offset <= bad_at + 1, (bad_at, str(error))


def test_shape_error_offset_is_at_most_one_read_past_the_problem(write_export):
    good = {f"p{i}": {"s": {"attributes": {"a": {"value": "x" * 100}}}} for i in range(2000)}
    good["p1500"] = {"s": {"events": {}}}
    text = json.dumps(wrapped(good))
    error = error_of(write_export(text))
    at = text.index('"p1500"')
    assert at <= error.offset <= at + 64 * 1024 + 100
    assert error.profile_key == "p1500"


# --- the public JSONTestSuite corpus ---------------------------------------------------------

CORPUS = sorted(JSON_TEST_SUITE.glob("*.json"))


@contextlib.contextmanager
def time_limit(seconds: int):
    def on_alarm(signum, frame):
        raise TimeoutError(f"took more than {seconds}s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


class Pairs(list):
    """A JSON object as the standard library saw it: its (key, value) pairs in order."""


def to_value(v):
    if isinstance(v, Pairs):
        return {k: to_value(x) for k, x in v}  # a repeated key keeps its last value
    return [to_value(x) for x in v] if isinstance(v, list) else v


def reference_profiles(data: bytes) -> list:
    """What the records must be, from the standard library's parser and the documented layout rule."""
    pairs = json.loads(data.decode("utf-8"), parse_float=Decimal, object_pairs_hook=Pairs)
    out, layout = [], None
    for key, raw in pairs:
        value = to_value(raw)
        if layout is None:
            layout = "wrapped" if key in WRAPPER_KEYS or not is_bare_profile(value) else "bare"
        if layout == "bare":
            out.append(profile_records(key, value, "bare"))
        elif key == "profiles":
            out.extend(profile_records(k, v, "wrapped") for k, v in value.items())
        else:
            out.append(document_extra(key, value))
    return out


def test_json_test_suite_gives_a_clean_error_or_the_correct_result():
    assert len(CORPUS) == 318, "the vendored corpus under tests/data/JSONTestSuite is incomplete"
    accepted = rejected = 0
    for path in CORPUS:
        kind = path.name[0]
        with time_limit(10):
            try:
                got = list(apsis_export.read_profiles(path))
            except InputError as error:
                rejected += 1
                assert str(error), path.name
                if kind == "y":  # valid JSON may be the wrong shape, but is never called invalid JSON
                    assert not error.problem.startswith("invalid JSON"), (path.name, str(error))
                continue
        accepted += 1
        assert kind != "n", f"{path.name}: invalid JSON was accepted"
        if kind == "y":
            assert got == reference_profiles(path.read_bytes()), path.name
    assert accepted >= 10 and rejected >= 188  # every n_ file and the many non-object y_ files


@pytest.mark.parametrize("inflater", ["zlib", "isal", "zlib-ng"])
def test_every_inflater_reads_the_same_and_fails_the_same(inflater, monkeypatch):
    import zlib

    from apsis_export import _gzip

    module = {
        "zlib": lambda: zlib,
        "isal": lambda: pytest.importorskip("isal.isal_zlib"),
        "zlib-ng": lambda: pytest.importorskip("zlib_ng.zlib_ng"),
    }[inflater]()
    monkeypatch.setattr(_gzip, "ZLIB", module)
    packed = (SAMPLE_DATA / "small.json.gz").read_bytes()
    assert read_all(__import__("io").BytesIO(packed)) == read_all(SAMPLE_DATA / "small.json")
    two_members = gzip.compress(b'{"p": {"s": {}},') + gzip.compress(b' "q": {}}') + b"\0\0"
    assert [p.key for p in apsis_export.read_profiles(__import__("io").BytesIO(two_members))] == ["p", "q"]
    cut = len(packed) // 2
    error = error_of(__import__("io").BytesIO(packed[:cut]))
    assert error.problem == "truncated gzip input: the compressed stream ends early"
    # Every byte that could be inflated was parsed first: the error sits where the good data ends.
    good = zlib.decompressobj(31).decompress(packed[:cut])
    assert error.offset == len(good)


@pytest.mark.parametrize("engine", ["fast", "exact"])
@pytest.mark.parametrize("damage", ["truncated", "checksum"])
def test_gzip_read_ahead_fails_as_reading_in_step(tmp_path, write_export, engine, damage):
    """convert() inflates gzip on a read-ahead thread: the same error, at the same offset, as
    reading without it, and nothing left behind."""
    packed = bytearray((SAMPLE_DATA / "small.json.gz").read_bytes())
    if damage == "truncated":
        packed = packed[: len(packed) // 2]
    else:
        packed[-8] ^= 0xFF
    path = write_export(bytes(packed), name="bad.json.gz")
    expected = error_of(path, engine=engine)
    with pytest.raises(InputError) as info:
        apsis_export.convert(path, tmp_path / "out", engine=engine, jobs=1)
    assert (info.value.problem, info.value.offset) == (expected.problem, expected.offset)
    assert list((tmp_path / "out").iterdir()) == []


def test_gzip_read_ahead_hands_every_byte_in_order():
    from apsis_export._source import open_source

    data = json.dumps({"profiles": {f"p{i}": {"sections": {}} for i in range(50_000)}}).encode()
    with open_source(__import__("io").BytesIO(gzip.compress(data))) as source:
        source.read_ahead()
        parts, size = [], 1
        while chunk := source.read(size):
            parts.append(chunk)
            size = size * 3 % 70_001 + 1  # reads of every size, smaller and larger than a step
        assert b"".join(parts) == data and source.json_offset == len(data)


@pytest.mark.parametrize("inflater", ["zlib", "isal", "zlib-ng"])
@pytest.mark.parametrize("step", [1000, 65536, 300_000])
def test_truncated_gzip_hands_every_good_byte_whatever_the_read_size(inflater, step, monkeypatch):
    """isal may hold inflated bytes past a read's limit with no input left: they still come
    before the truncation error (found with the exact engine's 64 KiB reads)."""
    import zlib

    from apsis_export import _gzip, _source

    module = {
        "zlib": lambda: zlib,
        "isal": lambda: pytest.importorskip("isal.isal_zlib"),
        "zlib-ng": lambda: pytest.importorskip("zlib_ng.zlib_ng"),
    }[inflater]()
    monkeypatch.setattr(_gzip, "ZLIB", module)
    packed = (SAMPLE_DATA / "small.json.gz").read_bytes()
    cut = packed[: len(packed) // 2]
    good = zlib.decompressobj(31).decompress(cut)
    with _source.open_source(__import__("io").BytesIO(cut)) as source:
        parts = []
        with pytest.raises(InputError, match="truncated gzip"):
            while chunk := source.read(step):
                parts.append(chunk)
        assert b"".join(parts) == good
