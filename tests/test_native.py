"""The compiled step (``apsis_export._native``, see ``_native.c``) changes nothing but speed.

Its two parts are held to the Python code they replace:

* ``scan`` against the numpy scan (``_scan.BlockScanner.tokens``): the same tokens, deep offsets and
  carried state for any bytes, split into blocks anywhere;
* ``Builder`` / ``NativeColumns.add`` against the Python mapping (msgspec typed decode,
  ``typed_profile_columns``, the sinks' encoders): a profile it accepts gives exactly the
  columns Python gives, and what it is unsure of it refuses (and appends nothing);

and end to end, ``convert`` with the compiled step gives the same files and summary as
with it switched off (``_compiled.AVAILABLE = False``, ``_compiled.scan = None``), on the
samples, generated and invented exports and a list of tricky profiles. Each such test also
checks that the compiled step really accepted the ordinary profiles and refused the ones it
must refuse, so that it cannot pass by doing nothing.

The module is skipped when the extension is not built (installed without a C compiler);
CI builds it, so there these tests always run.
"""

from __future__ import annotations

import ctypes
import itertools
import json
import random
import tempfile
import tracemalloc
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import apsis_export
from apsis_export import InputError, _parallel
from apsis_export._encode import json_array, value_texts
from apsis_export._engines import _compiled, _decode, _members, _scan, _units
from apsis_export._engines._compiled import NativeColumns
from apsis_export._shape import BARE, WRAPPED, ColumnsInto, typed_profile_columns

from .conftest import SAMPLE_DATA
from .test_differential import exports as invented_exports
from .test_differential import to_json
from .test_jobs import files

_native = pytest.importorskip("apsis_export._native")  # the imports above do without it

MIN_MS, MAX_MS = -62_135_596_800_000, 253_402_300_799_999
FORMATS = ["parquet", "csv", "jsonl"]
SUMMARY_FIELDS = (
    "profiles",
    "rows",
    "extras",
    "duplicate_events",
    "type_mismatches",
    "bytes_read",
    "bytes_json",
)
SETTINGS = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}


@pytest.fixture(autouse=True, scope="module")
def compiled_on():
    """The compiled step on, whatever APSIS_EXPORT_PURE says: these tests compare it with Python."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_compiled, "AVAILABLE", True)
        patch.setattr(_compiled, "scan", _native.scan)
        yield


@contextmanager
def pure_python():
    """The compiled step switched off (both switches are read at call time)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_compiled, "AVAILABLE", False)
        patch.setattr(_compiled, "scan", None)
        yield


@contextmanager
def recording():
    """Every member offered to the compiled step in the block (NativeColumns.add, or one of a run
    of NativeColumns.add_many, or one NativeColumns.add_run took) as (text, result); None: refused.
    (A member add_run stops at is offered again later, so it is recorded then.)"""
    calls: list[tuple[bytes, object]] = []
    add, add_many, add_run = NativeColumns.add, NativeColumns.add_many, NativeColumns.add_run

    def recorded(self, text, *, wrapped, ambiguous):
        found = add(self, text, wrapped=wrapped, ambiguous=ambiguous)
        calls.append((bytes(text), found))
        return found

    def recorded_many(self, buffer, base, spans, *, wrapped, ambiguous):
        done, key = add_many(self, buffer, base, spans, wrapped=wrapped, ambiguous=ambiguous)
        texts = [
            bytes(buffer[start - base : end - base])
            for start, end in zip(spans[::2], spans[1::2], strict=True)
        ]
        calls.extend((text, True) for text in texts[:done])
        calls.extend((text, None) for text in texts[done : done + 1])
        return done, key

    def recorded_run(self, buffer, base, start, **options):
        done, key, after, limited = add_run(self, buffer, base, start, **options)
        # the members it took: split at the commas of its split's depth (the numpy scan's view)
        split = _scan.PROFILES if options["wrapped"] else _scan.TOP
        scanner = _scan.BlockScanner(10**6, depth=split)
        region = bytes(buffer[start - base : after - base])
        ends = [
            pos
            for pos, char, depth in scanner.tokens(region, start)
            if char == _scan.COMMA and depth == split
        ]
        assert len(ends) == done
        for end in ends:
            calls.append((bytes(buffer[start - base : end - base]), True))
            start = end + 1
        return done, key, after, limited

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(NativeColumns, "add", recorded)
        patch.setattr(NativeColumns, "add_many", recorded_many)
        patch.setattr(NativeColumns, "add_run", recorded_run)
        yield calls


# --- one profile: the compiled step against the Python mapping ------------------------------


def native(
    text: bytes,
    layout: str,
    *,
    ambiguous: bool = False,
    json_mode: bool = False,
    attributes: bool = True,
    events: bool = True,
):
    """(add's result, attribute columns, event columns) of one member by the compiled step."""
    columns = NativeColumns(json=json_mode, attributes=attributes, events=events)
    found = columns.add(text, wrapped=layout == WRAPPED, ambiguous=ambiguous)
    if found is None:
        assert columns.rows == (0, 0), "a refused profile left rows behind"
    arrays = columns.take()
    assert columns.rows == (0, 0)
    for array in arrays[0] + arrays[1]:
        array.validate(full=True)  # offsets, validity and UTF-8
    return found, [a.to_pylist() for a in arrays[0]], [e.to_pylist() for e in arrays[1]]


def python(
    text: bytes,
    layout: str,
    *,
    ambiguous: bool = False,
    json_mode: bool = False,
    attributes: bool = True,
    events: bool = True,
):
    """The same by the Python mapping (as ``_decode.read_profile`` and the sinks' encoders do it),
    or None where the typed decode declines the profile."""
    try:
        ((key, value),) = _decode._TYPED_DECODERS[layout].decode(b"{" + text + b"}").items()
    except ValueError:  # msgspec's DecodeError and ValidationError, UnicodeDecodeError
        return None
    if ambiguous and key == "profiles":
        return None
    into = ColumnsInto([[] for _ in range(5)], [[] for _ in range(7)])
    sections = typed_profile_columns(key, value, layout, into)
    a, e = into.attributes, into.events
    if json_mode:  # JSONL: every text column as JSON, None as the text null
        texts = lambda column: json_array(column, nulls=False).to_pylist()  # noqa: E731
        a = [texts(column) for column in a]
        e = [texts(e[0]), texts(e[1]), texts(e[2]), texts(e[3]), e[4], e[5], texts(e[6])]
    else:  # Parquet, CSV
        a = [a[0], a[1], a[2], value_texts(a[3]), a[4]]
        e = [*e[:6], json_array(e[6]).to_pylist()]
    return (key, sections), (a if attributes else [[]] * 5), (e if events else [[]] * 7)


def compare(
    text: bytes, layout: str, *, ambiguous: bool = False, attributes: bool = True, events: bool = True
) -> bool:
    """Check the compiled step on one member in both modes; True if it accepted it.

    Whatever it accepts must decode typed and give exactly the Python columns."""
    accepted = set()
    for json_mode in (False, True):
        found, a, e = native(
            text, layout, ambiguous=ambiguous, json_mode=json_mode, attributes=attributes, events=events
        )
        accepted.add(found is not None)
        if found is not None:
            expected = python(
                text, layout, ambiguous=ambiguous, json_mode=json_mode, attributes=attributes, events=events
            )
            assert expected is not None, f"accepted what the typed decode refuses: {text!r}"
            assert (found, a, e) == expected, text
    assert len(accepted) == 1, "accepted in one mode only"
    return accepted.pop()


@pytest.mark.parametrize("size", [3, 16, 17, 40])
@pytest.mark.parametrize("before", [0, 40])
@pytest.mark.parametrize("names", ["id{}", "usercreated.attributes.{:03d}.value"])
def test_a_repeated_attribute_id_anywhere_in_its_section(size, before, names):
    """A repeated attribute ID is refused wherever it is in its section, in a table that grows as
    the section does, also after a section that left a bigger table behind; IDs that share
    their first and last bytes too."""

    def section(ids) -> str:
        return '{"attributes": {%s}}' % ", ".join(f'"{i}": {{"value": 1}}' for i in ids)

    first = f'"a": {section(names.format(k + 1000) for k in range(before))}, ' if before else ""
    ids = [names.format(k) for k in range(size)]
    assert compare(member("p", as_value("{" + first + f'"b": {section(ids)}}}', WRAPPED)), WRAPPED)
    for i, j in itertools.combinations(range(size), 2):
        repeated = [*ids[:j], ids[i], *ids[j + 1 :]]
        text = member("p", as_value("{" + first + f'"b": {section(repeated)}}}', WRAPPED))
        assert not compare(text, WRAPPED), (i, j)


# --- tricky profiles --------------------------------------------------------------------------

ORDINARY = (
    '{"s1": {"attributes": {"a": {"value": "x"}, "n": {"value": 1.50}, "t": {"value": true}, '
    '"o": {"value": {"k": [1, null, "\\u00e9"]}}}, "events": [{"typeId": "t", "correlationId": "c", '
    '"sourceEventTime": 1714564800000, "createdAt": 1714564800001, "data": {"k": [1, 2]}}]}, '
    '"s2": {"events": [{"typeId": "u", "createdAt": 5}]}}'
)


def attr(value: str | bytes) -> str | bytes:
    """Sections with one attribute of this value (JSON text)."""
    if isinstance(value, bytes):
        return b'{"s": {"attributes": {"a": {"value": ' + value + b"}}}}"
    return '{"s": {"attributes": {"a": {"value": %s}}}}' % value


def event(fields: str) -> str:
    """Sections with one event of these members (JSON text)."""
    return '{"s": {"events": [{%s}]}}' % fields


def data(value: str) -> str:
    return event('"typeId": "t", "createdAt": 1, "data": %s' % value)


def times(source: str, created: str = "1") -> str:
    return event('"typeId": "t", "sourceEventTime": %s, "createdAt": %s' % (source, created))


def nested(depth: int, inner: str = "") -> str:
    return "[" * depth + inner + "]" * depth


def spaced(text: str, space: str = " \t\r\n") -> str:
    """``text`` with ``space`` around every structural byte outside strings."""
    out, in_string, escaped = [], False, False
    for char in text:
        if in_string:
            out.append(char)
            in_string = escaped or char != '"'
            escaped = not escaped and char == "\\"
        elif char == '"':
            out.append(char)
            in_string = True
        elif char in "{}[],:":
            out.append(space + char + space)
        else:
            out.append(char)
    return "".join(out)


def many(count: int, repeat: str | None = None) -> str:
    ids = [f"id{i}" for i in range(count)] + ([repeat] if repeat else [])
    return "{" + ",".join('"%s": {"value": %d}' % (i, n) for n, i in enumerate(ids)) + "}"


EVENT = '"typeId": "t", "correlationId": "c", "sourceEventTime": 1714564800000, "createdAt": 1714564800001'

# (name, sections of the profile, whether the compiled step takes it): mapped in either layout.
TRICKY: list[tuple[str, str | bytes, bool]] = [
    ("ordinary", ORDINARY, True),
    ("empty", "{}", True),
    ("empty-section", '{"s": {}}', True),
    (
        "empty-ids",
        (
            '{"": {"attributes": {"": {"value": ""}}, "events": [{"typeId": "", "correlationId": "", "data": ""}]}, '
            '"s": {"attributes": {"": {"value": ""}, "a": {"value": ""}}}}'
        ),
        True,
    ),
    ("repeated-empty-section", '{"": {}, "": {}}', False),
    ("repeated-empty-attribute", '{"": {"attributes": {"": {"value": ""}, "": {"value": 1}}}}', False),
    ("empty-parts", '{"s": {"attributes": {}, "events": []}, "t": {"events": [], "attributes": {}}}', True),
    ("whitespace", spaced(ORDINARY), True),
    ("whitespace-crlf", spaced(ORDINARY, "\r\n"), True),
    ("no-whitespace", json.dumps(json.loads(ORDINARY), separators=(",", ":")), True),
    ("formfeed-is-not-whitespace", '{"s": {\f}}', False),
    ("nbsp-is-not-whitespace", '{"s":\u00a0{}}', False),
    # strings
    (
        "escapes",
        attr(
            r'"\" \\ \/ \b \f \n \r \t \u0000 \u0001 \u001f \u007f \u0080 \u00e9 \u2028 \uffff '
            r'\ud83c\udf89 \uD83C\uDF89 \u00E9"'
        ),
        True,
    ),
    (
        "escapes-json-data",
        data(r'{"\u0000\n": ["\"\\\/\b\f\n\r\t\u001f\u007f", "\ud83c\udf89\u2029"]}'),
        True,
    ),
    ("utf8", attr('"café 日本 🎉 \x7f \u2028"'), True),
    (
        "escaped-ids",
        (
            '{"s\\n\\u00e9\\"": {"attributes": {"a\\"\\\\\\/\\u0000": {"value": "\\u0000"}}, '
            '"events": [{"typeId": "\\t", "correlationId": "\\u0000", "data": "\\/"}]}}'
        ),
        True,
    ),
    (
        "escaped-field-names",
        (
            '{"s": {"\\u0061ttributes": {"a": {"v\\u0061lue": 1}}, '
            '"events": [{"type\\u0049d": "t", "\\u0064ata": 1}]}}'
        ),
        True,
    ),
    ("lone-high-surrogate", attr(r'"\ud800"'), False),
    ("lone-low-surrogate", attr(r'"\udc00"'), False),
    ("high-then-letter", attr(r'"\ud800\u0041"'), False),
    ("high-at-end", attr(r'"x\ud83c"'), False),
    ("high-then-high", attr(r'"\ud83c\ud83c"'), False),
    ("low-then-high", attr(r'"\udf89\ud83c"'), False),
    ("surrogate-in-key", r'{"s": {"attributes": {"\ud800": {"value": 1}}}}', False),
    ("surrogate-in-data", data(r'{"k": "\udfff"}'), False),
    ("invalid-utf8-ff", attr(b'"\xff"'), False),
    ("invalid-utf8-continuation", attr(b'"\x80"'), False),
    ("invalid-utf8-truncated", attr(b'"\xc3"'), False),
    ("invalid-utf8-truncated-3", attr(b'"\xe6\x97"'), False),
    ("overlong-2", attr(b'"\xc0\xaf"'), False),
    ("overlong-3", attr(b'"\xe0\x80\xaf"'), False),
    ("overlong-4", attr(b'"\xf0\x80\x80\xaf"'), False),
    ("utf8-surrogate", attr(b'"\xed\xa0\x80"'), False),
    ("utf8-beyond-10ffff", attr(b'"\xf4\x90\x80\x80"'), False),
    ("utf8-f5", attr(b'"\xf5\x80\x80\x80"'), False),
    ("utf8-max", attr(b'"\xf4\x8f\xbf\xbf \xef\xbf\xbf \xed\x9f\xbf \xee\x80\x80"'), True),
    ("invalid-utf8-in-key", b'{"\xff": {}}', False),
    ("raw-control", attr('"a\x01b"'), False),
    ("raw-tab", attr('"a\tb"'), False),
    ("raw-newline", attr('"a\nb"'), False),
    ("raw-nul", attr('"a\x00b"'), False),
    ("raw-control-in-key", '{"s\x1f": {}}', False),
    ("bad-escape-x", attr(r'"\x41"'), False),
    ("bad-escape-quote", attr(r'"\'"'), False),
    ("short-u-escape", attr(r'"\u12"'), False),
    ("bad-hex", attr(r'"\u12G4"'), False),
    ("unterminated", attr('"abc'), False),
    # numbers
    ("zero", attr("0"), True),
    ("minus-zero", attr("-0"), False),
    ("minus-zero-point-zero", attr("-0.0"), True),
    ("minus-zero-fraction", attr("-0.000"), True),
    ("trailing-zero", attr("1.50"), True),
    ("micro", attr("0.000001"), True),
    ("minus-micro", attr("-0.000001"), True),
    ("micro-trailing-zero", attr("0.0000010"), True),
    ("below-micro", attr("0.0000001"), False),
    ("minus-below-micro", attr("-0.0000001"), False),
    ("zeros-below-micro", attr("0.00000000"), False),
    ("exponent", attr("1e5"), False),
    ("exponent-capital", attr("1E-3"), False),
    ("exponent-plus", attr("1.5e+2"), False),
    ("exponent-in-data", data("[1, 2E2]"), False),
    ("minus-zero-in-data", data('{"x": -0}'), False),
    ("below-micro-in-data", data("[0.0000001]"), False),
    (
        "numbers-in-data",
        data('{"a": -0.0, "b": 1.50, "c": 0.000001, "d": -12, "e": 123456789012345678901234567890}'),
        True,
    ),
    (
        "int64-edges",
        data(
            "[9223372036854775807, -9223372036854775808, 9223372036854775808, -9223372036854775809, "
            "18446744073709551615, 18446744073709551616]"
        ),
        True,
    ),
    ("huge-int", attr("123456789012345678901234567890123456789"), True),
    ("huge-negative-int", attr("-123456789012345678901234567890123456789"), True),
    ("4000-digits", attr("7" * 4000), True),
    ("4000-digits-in-data", data("[%s]" % ("3" * 4000)), True),
    ("4001-digits", attr("7" * 4001), False),
    ("minus-4000-digits", attr("-" + "7" * 4000), False),
    ("4300-digits", attr("7" * 4300), False),
    ("5000-digits", attr("7" * 5000), False),
    ("long-fraction", attr("1." + "5" * 5000), True),
    ("long-fraction-4000-int", attr("9" * 4000 + "." + "1" * 10), True),
    ("leading-zero", attr("01"), False),
    ("leading-zero-fraction", attr("00.5"), False),
    ("minus-leading-zero", attr("-01"), False),
    ("trailing-point", attr("1."), False),
    ("leading-point", attr(".5"), False),
    ("plus", attr("+1"), False),
    ("minus-alone", attr("-"), False),
    ("nan", attr("NaN"), False),
    ("infinity", attr("-Infinity"), False),
    # attribute values of every type
    ("string", attr('""'), True),
    ("true", attr("true"), True),
    ("false", attr("false"), True),
    ("null", attr("null"), True),
    ("empty-object", attr("{}"), True),
    ("empty-array", attr("[]"), True),
    (
        "nested",
        attr(spaced('{"a": [1, {"b": "\\u00e9\\n", "c": null}], "d": true, "": {"": []}, "e": -0.0}')),
        True,
    ),
    (
        "every-type",
        (
            '{"s": {"attributes": {"s": {"value": "x"}, "n": {"value": 1}, "d": {"value": 2.5}, '
            '"b": {"value": false}, "z": {"value": null}, "o": {"value": {"x": 1}}, "l": {"value": [1]}}}}'
        ),
        True,
    ),
    ("repeated-key-in-value", attr('{"a": 1, "a": 2}'), False),
    ("repeated-escaped-key-in-value", attr('{"a": 1, "\\u0061": 2}'), False),
    ("repeated-key-deep-in-value", attr('[1, {"x": {"y": 1, "z": 2, "y": 3}}]'), False),
    ("repeated-key-in-data", data('{"k": 1, "j": 2, "k": 3}'), False),
    ("same-key-in-sibling-objects", attr('[{"a": 1}, {"a": 2}, {"b": {"a": 3}}]'), True),
    ("64-keys", attr("{" + ",".join('"k%d": %d' % (i, i) for i in range(64)) + "}"), True),
    ("65-keys", attr("{" + ",".join('"k%d": %d' % (i, i) for i in range(65)) + "}"), False),
    ("truncated-literal", attr("tru"), False),
    ("long-literal", attr("nulll"), False),
    ("capital-literal", attr("True"), False),
    ("trailing-comma-in-value", attr("[1, 2, ]"), False),
    ("missing-comma-in-value", attr('{"a": 1 "b": 2}'), False),
    ("missing-colon-in-value", attr('{"a" 1}'), False),
    ("non-string-key-in-value", attr("{1: 2}"), False),
    # attributes
    (
        "repeated-attribute",
        '{"s": {"attributes": {"a": {"value": 1}, "b": {"value": 2}, "a": {"value": 3}}}}',
        False,
    ),
    (
        "repeated-attribute-escaped",
        '{"s": {"attributes": {"a": {"value": 1}, "\\u0061": {"value": 2}}}}',
        False,
    ),
    (
        "same-attribute-other-section",
        '{"s": {"attributes": {"a": {"value": 1}}}, "t": {"attributes": {"a": {"value": 2}}}}',
        True,
    ),
    (
        "same-attribute-json-text",
        '{"s": {"attributes": {"\\"": {"value": 1}, "\\\\": {"value": 2}, "": {"value": 3}}}}',
        True,
    ),
    ("200-attributes", '{"s": {"attributes": %s}}' % many(200), True),
    ("200-attributes-repeated", '{"s": {"attributes": %s}}' % many(200, "id17"), False),
    (
        "3000-attributes-then-repeat",
        '{"s": {"attributes": %s}, "t": {"attributes": %s}}' % (many(3000), many(3, "id1")),
        False,
    ),
    (
        "3000-attributes-then-more",
        '{"s": {"attributes": %s}, "t": {"attributes": %s}, "u": {"attributes": %s}}'
        % (many(3000), many(3), many(100)),
        True,
    ),
    ("value-and-other", '{"s": {"attributes": {"a": {"value": 1, "other": 2}}}}', False),
    ("other-and-value", '{"s": {"attributes": {"a": {"other": 2, "value": 1}}}}', False),
    ("value-twice", '{"s": {"attributes": {"a": {"value": 1, "value": 2}}}}', False),
    ("no-value", '{"s": {"attributes": {"a": {}}}}', False),
    ("attribute-null", '{"s": {"attributes": {"a": null}}}', False),
    ("attribute-string", '{"s": {"attributes": {"a": "x"}}}', False),
    ("attributes-array", '{"s": {"attributes": []}}', False),
    ("attributes-null", '{"s": {"attributes": null}}', False),
    # sections
    ("repeated-section", '{"s": {"attributes": {"a": {"value": 1}}}, "s": {"events": []}}', False),
    ("repeated-section-escaped", '{"s": {}, "\\u0073": {}}', False),
    ("repeated-attributes", '{"s": {"attributes": {"a": {"value": 1}}, "attributes": {}}}', False),
    ("repeated-events", '{"s": {"events": [], "events": []}}', False),
    ("unknown-in-section", '{"s": {"attributes": {}, "topics": []}}', False),
    ("unknown-first-in-section", '{"s": {"topics": [], "events": []}}', False),
    ("section-null", '{"s": null}', False),
    ("section-array", '{"s": []}', False),
    ("sections-then-garbage", '{"s": {}} x', False),
    # events
    ("event-full", event(EVENT + ', "data": {"k": "v"}'), True),
    ("event-minimal", event('"typeId": "t"'), True),
    ("event-empty-ids", event('"typeId": "", "correlationId": ""'), True),
    (
        "event-order",
        event('"data": [1], "createdAt": 2, "typeId": "t", "sourceEventTime": 3, "correlationId": "c"'),
        True,
    ),
    ("type-number", event('"typeId": 7, "createdAt": 1'), False),
    ("type-null", event('"typeId": null, "createdAt": 1'), False),
    ("type-missing", event('"createdAt": 1, "data": 1'), False),
    ("event-empty", '{"s": {"events": [{}]}}', False),
    ("type-twice", event('"typeId": "a", "typeId": "b"'), False),
    ("data-twice", event('"typeId": "a", "data": 1, "data": 2'), False),
    ("created-twice", event('"typeId": "a", "createdAt": 1, "createdAt": 1'), False),
    ("correlation-twice", event('"typeId": "a", "correlationId": null, "correlationId": "c"'), False),
    ("unknown-in-event", event(EVENT + ', "extra": 1'), False),
    ("unknown-first-in-event", event('"extra": 1, ' + EVENT), False),
    ("correlation-null", event('"typeId": "t", "correlationId": null'), True),
    ("correlation-number", event('"typeId": "t", "correlationId": 7'), False),
    ("correlation-object", event('"typeId": "t", "correlationId": {}'), False),
    ("source-time-zero", times("0"), True),
    ("created-zero", times("5", "0"), True),
    ("times-null", times("null", "null"), True),
    ("times-negative", times("-1", "-1714564800000"), True),
    ("times-edges", times(str(MIN_MS), str(MAX_MS)), True),
    ("time-below-year-1", times(str(MIN_MS - 1)), False),
    ("time-beyond-year-9999", times("1", str(MAX_MS + 1)), False),
    ("time-16-digits", times("1000000000000000"), False),
    ("time-20-digits", times("99999999999999999999"), False),
    ("time-float", times("1.0"), False),
    ("time-float-fraction", times("1714564800000.5"), False),
    ("time-exponent", times("1e3"), False),
    ("time-minus-zero", times("-0"), False),
    ("time-leading-zero", times("007"), False),
    ("time-string", times('"5"'), False),
    ("time-true", times("true"), False),
    ("time-minus", times("-"), False),
    ("data-missing", event('"typeId": "t"'), True),
    ("data-null", data("null"), True),
    ("data-string", data('"a\\"b"'), True),
    ("data-number", data("-12.50"), True),
    ("data-bool", data("false"), True),
    ("data-empty", data("{}"), True),
    ("data-60-deep", data(nested(60, '{"k": "\\n"}')), True),
    ("data-64-deep", data(nested(64)), True),
    ("data-65-deep", data(nested(65)), False),
    ("data-100-deep", data(nested(100, "1")), False),
    ("value-64-deep", attr(nested(64)), True),
    ("value-65-deep", attr(nested(65)), False),
    ("events-object", '{"s": {"events": {}}}', False),
    ("events-null", '{"s": {"events": null}}', False),
    ("event-null", '{"s": {"events": [null]}}', False),
    ("event-number", '{"s": {"events": [1]}}', False),
    ("event-array", '{"s": {"events": [[]]}}', False),
    ("events-trailing-comma", '{"s": {"events": [{"typeId": "t"},]}}', False),
    (
        "many-events",
        '{"s": {"events": [%s]}}'
        % ",".join('{"typeId": "t%d", "createdAt": %d}' % (i, i) for i in range(500)),
        True,
    ),
]

# (name, layout, the profile's value, whether the compiled step takes it): profile-level cases.
PROFILE_LEVEL: list[tuple[str, str, str, bool]] = [
    ("wrapped-empty", WRAPPED, "{}", True),
    ("wrapped-empty-sections", WRAPPED, '{"sections": {}}', True),
    ("wrapped-spaced", WRAPPED, spaced('{"sections": %s}' % ORDINARY), True),
    ("wrapped-unknown-after", WRAPPED, '{"sections": {"s": {}}, "score": 3}', False),
    ("wrapped-unknown-before", WRAPPED, '{"score": 3, "sections": {"s": {}}}', False),
    ("wrapped-sections-twice", WRAPPED, '{"sections": {"s": {}}, "sections": {"t": {}}}', False),
    ("wrapped-sections-null", WRAPPED, '{"sections": null}', False),
    ("wrapped-sections-array", WRAPPED, '{"sections": []}', False),
    ("wrapped-array", WRAPPED, "[]", False),
    ("wrapped-string", WRAPPED, '"x"', False),
    ("wrapped-null", WRAPPED, "null", False),
    ("bare-sections-key", BARE, '{"sections": {}}', True),  # a section called "sections"
    ("bare-array", BARE, "[]", False),
    ("bare-number", BARE, "1", False),
]


def member(key: str, value: str | bytes) -> bytes:
    value = value if isinstance(value, bytes) else value.encode()
    return json.dumps(key).encode() + b":" + value


def as_value(sections: str | bytes, layout: str) -> bytes:
    sections = sections if isinstance(sections, bytes) else sections.encode()
    return b'{"sections":' + sections + b"}" if layout == WRAPPED else sections


def tricky_members():
    for name, sections, accepted in TRICKY:
        for layout in (WRAPPED, BARE):
            yield pytest.param(name, layout, as_value(sections, layout), accepted, id=f"{name}-{layout}")
    for name, layout, value, accepted in PROFILE_LEVEL:
        yield pytest.param(name, layout, value.encode(), accepted, id=name)


TRICKY_MEMBERS = list(tricky_members())


@pytest.mark.parametrize("name, layout, value, accepted", TRICKY_MEMBERS)
def test_tricky_profile_alone(name, layout, value, accepted):
    text = member("tricky", value)
    assert compare(text, layout) == accepted
    for attributes, events in ((True, False), (False, True)):  # one table only: nothing else changes
        compare(text, layout, attributes=attributes, events=events)
    assert (
        compare(b" \t\r\n" + text + b"\r\n\t ", layout) == accepted
    )  # the member's text as the scan cuts it


def test_keys_in_every_place():
    sections = (
        '{"\\u0000 s\\"\\\\/": {"attributes": {"a": {"value": "\\u00e9"}}, "events": [{"typeId": "t"}]}}'
    )
    for key in ["", "profiles", "sections", "\u0000", 'a"b\\c', "日本 🎉", "\u2028\x7f", "x" * 1000]:
        for layout in (WRAPPED, BARE):
            text = member(key, as_value(sections, layout))
            assert compare(text, layout)
            # a key written with escapes is the same key
            escaped = json.dumps(key, ensure_ascii=True).encode() + b" : " + as_value(sections, layout)
            assert compare(escaped, layout)


@pytest.mark.parametrize("layout", [WRAPPED, BARE])
def test_a_profile_keyed_profiles_is_refused_only_where_ambiguous(layout):
    text = member("profiles", as_value(ORDINARY, layout))
    assert not compare(text, layout, ambiguous=True)
    assert compare(text, layout, ambiguous=False)
    assert compare(b'"profile\\u0073":' + as_value(ORDINARY, layout), layout, ambiguous=False)
    assert not compare(b'"profile\\u0073":' + as_value(ORDINARY, layout), layout, ambiguous=True)
    assert compare(member("profiles2", as_value(ORDINARY, layout)), layout, ambiguous=True)


@pytest.mark.parametrize(
    "text",
    [
        b"",
        b" ",
        b'"p"',
        b'"p":',
        b'"p" {}',
        b'"p":{}',
        b'"p":{},',
        b'"p":{} "q":{}',
        b'"p":{},"q":{}',
        b"p:{}",
        b'"p":{}}',
        b'{"p":{}}',
        b'"p":{"s":{}}}',
        b'"p":{"s":{}',
        b'"p":{"s":{"attributes":{"a":{"value":1}}}',
        b'"p\xff":{}',
        b'"p":{"s":{"events":[{"typeId":"t"}',
        b'"p":{"s":{"attributes":{"a":{"value":"x\\',
    ],
)
def test_broken_members_are_refused(text):
    for layout in (WRAPPED, BARE):
        expected = text in (b'"p":{}',)
        assert compare(text, layout) == expected


def test_take_empties_and_rows_count():
    columns = NativeColumns(json=False)
    assert columns.rows == (0, 0)
    text = member("p", as_value(ORDINARY, BARE))
    assert columns.add(text, wrapped=False, ambiguous=False) == ("p", ["s1", "s2"])
    assert columns.rows == (4, 2)
    assert columns.add(text, wrapped=False, ambiguous=False) is not None
    assert columns.rows == (8, 4)
    attributes, events = columns.take()
    assert [len(a) for a in attributes] == [8] * 5 and [len(e) for e in events] == [4] * 7
    assert columns.rows == (0, 0)
    attributes, events = columns.take()
    assert [len(a) for a in attributes + events] == [0] * 12
    for array in attributes + events:
        array.validate(full=True)
    # after a take, rows start afresh
    assert columns.add(text, wrapped=False, ambiguous=False) is not None
    again = columns.take()
    _, a, e = native(text, BARE)
    assert [x.to_pylist() for x in again[0]] == a and [x.to_pylist() for x in again[1]] == e


@pytest.mark.parametrize("json_mode", [False, True])
def test_a_refused_profile_leaves_the_accepted_rows_intact(json_mode):
    good = [
        member("p1", as_value(ORDINARY, BARE)),
        member(
            "p2", as_value('{"x": {"attributes": {"k": {"value": null}}, "events": [{"typeId": "e"}]}}', BARE)
        ),
    ]
    # refused late: after its first section's rows were appended, in the middle of an event,
    # in a later attribute, at a repeated key
    bad = [
        member("b1", as_value(ORDINARY[:-1] + ', "s3": {"attributes": {"a": {"value": -0}}}}', BARE)),
        member(
            "b2",
            as_value(
                '{"s": {"attributes": {"a": {"value": 1}}, "events": [{"typeId": "t"}, {"typeId": 1}]}}', BARE
            ),
        ),
        member("b3", as_value(ORDINARY[:-1] + ', "s1": {}}', BARE)),
        member("b4", as_value('{"s": {"attributes": {"a": {"value": 1}, "b": {"value": "\\ud800"}}}}', BARE)),
        member(
            "b5", as_value(ORDINARY[:-1] + ', "s3": {"events": [{"typeId": "t", "createdAt": 1e3}]}}', BARE)
        ),
    ]
    alone = NativeColumns(json=json_mode)
    for text in good:
        assert alone.add(text, wrapped=False, ambiguous=False) is not None
    expected = alone.take()
    mixed = NativeColumns(json=json_mode)
    for text in [bad[0], good[0], *bad[1:3], good[1], *bad[3:]]:
        found = mixed.add(text, wrapped=False, ambiguous=False)
        assert (found is not None) == (text in good)
    assert mixed.rows == (
        sum(len(python(t, BARE)[1][0]) for t in good),
        sum(len(python(t, BARE)[2][0]) for t in good),
    )
    got = mixed.take()
    assert [[a.to_pylist() for a in table] for table in got] == [
        [a.to_pylist() for a in table] for table in expected
    ]
    # and a refused profile between takes leaves nothing for the next
    assert mixed.add(bad[1], wrapped=False, ambiguous=False) is None
    assert mixed.rows == (0, 0)
    assert all(len(a) == 0 for table in mixed.take() for a in table)


def test_buffer_types_and_reinit():
    """add takes any bytes-like text; a Builder initialised again starts empty."""
    text = member("p", as_value(ORDINARY, WRAPPED))
    builder = _native.Builder(json=False)
    for like in (text, bytearray(text), memoryview(text)):
        assert builder.add(like, wrapped=True, ambiguous=False) == ("p", ["s1", "s2"])
    assert builder.rows == (12, 6)
    builder.__init__(json=True, events=False)
    assert builder.rows == (0, 0)
    assert builder.add(text, wrapped=True, ambiguous=False) is not None
    assert builder.rows == (4, 0)
    with pytest.raises(TypeError):
        builder.add("text", wrapped=True, ambiguous=False)


@pytest.mark.parametrize(
    "call",
    [
        lambda b, text: b.add(text, True, False),  # flags by position
        lambda b, text: b.add(text, wrapped=True),  # one missing
        lambda b, text: b.add(text, wrapped=True, ambiguous=False, layout=1),  # an unknown one
        lambda b, text: b.add(wrapped=True, ambiguous=False),  # no text
        lambda b, text: _native.Builder(False),
        lambda b, text: _native.Builder(events=False),
    ],
)
def test_flags_are_keyword_only_and_required(call):
    """add's and Builder's flags are named at each call (no row appended by a refused call)."""
    builder = _native.Builder(json=False)
    with pytest.raises(TypeError):
        call(builder, member("p", as_value(ORDINARY, WRAPPED)))
    assert builder.rows == (0, 0)


def test_no_memory_is_kept_across_many_profiles():
    texts = [
        member(f"p{i}", as_value(sections if isinstance(sections, bytes) else sections.encode(), BARE))
        for i, (_, sections, _) in enumerate(TRICKY)
        if len(sections) < 2000
    ]
    columns = NativeColumns(json=True)

    def rounds(count):
        for _ in range(count):
            for text in texts:
                columns.add(text, wrapped=False, ambiguous=False)
            columns.take()

    rounds(3)  # buffers at their working size
    tracemalloc.start()
    try:
        rounds(2)
        before = tracemalloc.get_traced_memory()[0]
        rounds(20)
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after - before < 64 * 1024, f"{after - before} bytes more after 20 rounds"


# --- invented profiles -------------------------------------------------------------------------


class Raw(str):
    """JSON text written as it is (a surrogate-escaped character stands for that byte)."""


class Obj(list):
    """A JSON object as (key, value) pairs: keys may repeat."""


SPACES = ["", "", "", " ", "\n", "\t", "\r", " \t\r\n"]
SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "/": "\\/",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


def dump_string(text: str, rng: random.Random) -> str:
    """A JSON string of ``text``, escaped at random (\\u in either case, surrogate pairs, \\/)."""
    how = rng.random()
    if how < 0.35:
        return json.dumps(text, ensure_ascii=False)
    if how < 0.6:
        return json.dumps(text, ensure_ascii=True)
    out = []
    for char in text:
        code = ord(char)
        if rng.random() < 0.5 and code >= 0x20 and char not in '"\\':
            out.append(char)
        elif char in SHORT_ESCAPES and rng.random() < 0.7:
            out.append(SHORT_ESCAPES[char])
        else:
            units = (
                [code]
                if code < 0x10000
                else [0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)]
            )
            for unit in units:
                hexa = "%04x" % unit
                out.append("\\u" + (hexa.upper() if rng.random() < 0.5 else hexa))
    return '"' + "".join(out) + '"'


def dump(node, rng: random.Random) -> str:
    space = lambda: rng.choice(SPACES)  # noqa: E731
    if isinstance(node, Raw):
        return str(node)
    if isinstance(node, Obj):
        if not node:
            return "{" + space() + "}"
        return (
            "{"
            + ",".join(
                f"{space()}{dump_string(k, rng)}{space()}:{space()}{dump(v, rng)}{space()}" for k, v in node
            )
            + "}"
        )
    if isinstance(node, list):
        if not node:
            return "[" + space() + "]"
        return "[" + ",".join(space() + dump(v, rng) + space() for v in node) + "]"
    if isinstance(node, str):
        return dump_string(node, rng)
    if node is None or isinstance(node, bool):
        return json.dumps(node)
    return str(node)  # int, Decimal


_chars = st.characters(codec="utf-8", exclude_categories=["Cs"])
safe_texts = st.text(_chars, max_size=6) | st.sampled_from(
    ["", "value", "typeId", "profiles", '"', "\\", "/", "\x00", "\x1f\x7f", "\u2028", "é", "🎉", "a\nb"]
)
few_keys = st.sampled_from(["a", "b", "é", "🎉", "", "\\"])  # for repeats
safe_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | safe_texts
    | st.decimals(min_value=-(10**9), max_value=10**9, places=3, allow_nan=False)
)
raw_numbers = st.sampled_from(
    [
        Raw(t)
        for t in [
            "-0",
            "-0.0",
            "0.000001",
            "0.0000001",
            "-0.0000001",
            "0.0000010",
            "0.00000000",
            "1e5",
            "1E-3",
            "1.5E+2",
            "00",
            "01",
            "1.",
            ".5",
            "+1",
            "NaN",
            "-",
            "-Infinity",
            "1" * 25,
            "-" + "9" * 30,
            "0",
            "-0.000000",
            "1.50",
        ]
    ]
)
raw_strings = st.sampled_from(
    [
        Raw(t)
        for t in [
            '"\\ud800"',
            '"\\udc00"',
            '"\\ud800\\u0041"',
            '"a\\ud83c"',
            '"\\udf89\\ud83c"',
            '"\\ud83c\\udf89"',
            '"\udcff"',
            '"\udcc0\udcaf"',
            '"\udced\udca0\udc80"',
            '"\udcf4\udc90\udc80\udc80"',
            '"\udce0\udc80\udcaf"',
            '"\udcc3"',
            '"\x01"',
            '"\t"',
            '"\x7f"',
            '"\\x"',
            '"\\u12"',
            '"\\u00G0"',
            '"\\\'"',
            '"\\u0000"',
            '"\udcc3\udca9"',
        ]
    ]
)
raw_deep = st.sampled_from(
    [Raw(nested(n)) for n in (62, 63, 64, 65, 66, 100)] + [Raw(nested(63, "1")), Raw(nested(64, "1"))]
)
weird_scalars = (
    safe_scalars
    | raw_numbers
    | raw_strings
    | raw_deep
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.floats(allow_nan=False, allow_infinity=False)
)


def json_values(scalars, weird: bool):
    def objects(inner):
        if weird:
            return st.lists(st.tuples(few_keys | safe_texts, inner), max_size=4).map(Obj)
        return st.dictionaries(safe_texts, inner, max_size=4).map(lambda d: Obj(d.items()))

    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | objects(inner), max_leaves=8)


safe_values = json_values(safe_scalars, weird=False)
weird_values = json_values(weird_scalars, weird=True)
safe_times = st.none() | st.integers(MIN_MS, MAX_MS) | st.sampled_from([0, MIN_MS, MAX_MS, -1, 1])
weird_times = (
    safe_times
    | st.sampled_from([MIN_MS - 1, MAX_MS + 1, 10**15, 10**20, -(10**16)])
    | st.sampled_from([Raw(t) for t in ["-0", "1.0", "1e3", "007", '"5"', "true", "-", "1714564800000.5"]])
)


@st.composite
def profiles(draw, weird: bool):
    """(member text, layout): a profile in the common shape; with ``weird``, values at and beyond
    its edges, repeated and unknown keys, and a few bytes mutated."""
    values = weird_values if weird else safe_values
    twist = (lambda: draw(st.sampled_from(range(12))) == 0) if weird else (lambda: False)
    ids = (few_keys | safe_texts) if weird else safe_texts

    def attributes():
        pairs = []
        for key in draw(st.lists(ids, max_size=4, unique=not weird)):
            entry = Obj([("value", draw(values))])
            if twist():
                entry = draw(
                    st.sampled_from(
                        [
                            Obj(),
                            Obj([*entry, ("history", [])]),
                            Obj([("other", 1), *entry]),
                            Obj([*entry, ("value", 2)]),
                            None,
                            [],
                        ]
                    )
                )
            pairs.append((key, entry))
        return Obj(pairs) if not twist() else draw(st.sampled_from([[], None, Obj([("a", None)])]))

    def event():
        fields = {"typeId": draw(safe_texts)}
        for name, kind in [
            ("correlationId", st.none() | safe_texts),
            ("sourceEventTime", weird_times if weird else safe_times),
            ("createdAt", weird_times if weird else safe_times),
            ("data", values),
        ]:
            if draw(st.booleans()):
                fields[name] = draw(kind)
        pairs = draw(st.permutations(list(fields.items())))
        if twist():
            pairs = pairs[1:]  # typeId or another field missing
        if twist():
            pairs.append(
                draw(st.sampled_from([("typeId", "x"), ("data", 1), ("extra", 1), ("createdAt", 5)]))
            )
        if twist():
            pairs = [
                (k, draw(st.sampled_from([None, 7, Raw("7.0"), Obj()])) if k == "typeId" else v)
                for k, v in pairs
            ]
        return Obj(pairs) if not twist() else draw(st.sampled_from([None, 1, [], Obj()]))

    def section():
        pairs = []
        if draw(st.booleans()):
            pairs.append(("attributes", attributes()))
        if draw(st.booleans()):
            pairs.append(("events", [event() for _ in range(draw(st.integers(0, 3)))]))
        if len(pairs) == 2 and draw(st.booleans()):
            pairs.reverse()
        if twist():
            pairs.append(draw(st.sampled_from([("topics", []), ("attributes", Obj()), ("events", [])])))
        return Obj(pairs) if not twist() else draw(st.sampled_from([None, [], "x"]))

    sections = Obj((key, section()) for key in draw(st.lists(ids, max_size=3, unique=not weird)))
    layout = draw(st.sampled_from([WRAPPED, BARE]))
    value = Obj([("sections", sections)]) if layout == WRAPPED else sections
    if layout == WRAPPED and twist():
        value = Obj([*value, ("score", 3)])
    rng = random.Random(draw(st.integers(0, 2**32)))
    key = draw(safe_texts | st.just("profiles"))
    value = dump(value, rng).encode("utf-8", "surrogateescape")
    if weird:
        for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 2]))):  # mutations
            at = draw(st.integers(0, len(value)))
            piece = draw(
                st.sampled_from(
                    [
                        b"",
                        b"{",
                        b"}",
                        b"[",
                        b"]",
                        b",",
                        b":",
                        b'"',
                        b"\\",
                        b" ",
                        b"\t",
                        b"0",
                        b"-",
                        b"e",
                        b".",
                        b"\x00",
                        b"\x1f",
                        b"\x7f",
                        b"\x80",
                        b"\xc3",
                        b"\xed",
                        b"\xff",
                        b"\\u",
                        b"\\ud800",
                        b"null",
                        b'"value"',
                        b'"a"',
                        b"1",
                    ]
                )
            )
            cut = draw(st.integers(0, 2))
            value = value[:at] + piece + value[at + cut :]
    text = (
        rng.choice(SPACES) + dump_string(key, rng) + rng.choice(SPACES) + ":" + rng.choice(SPACES)
    ).encode() + value
    return text + rng.choice(SPACES).encode(), layout, value


@settings(max_examples=100, **SETTINGS)
@given(profiles(weird=False))
def test_ordinary_invented_profiles_are_accepted_as_python_maps_them(case):
    text, layout, _ = case
    assert compare(text, layout), text


@pytest.mark.slow
@settings(max_examples=300, **SETTINGS)
@given(profiles(weird=True), st.booleans(), st.sampled_from([(True, True), (True, False), (False, True)]))
def test_invented_profiles_are_mapped_as_python_maps_them_or_refused(case, ambiguous, tables):
    text, layout, _ = case
    attributes, events = tables
    compare(text, layout, ambiguous=ambiguous, attributes=attributes, events=events)


# A quicker generator of the same kind (one seed, Python's random), for many more examples.

RANDOM_TEXTS = [
    "",
    "a",
    "b",
    "é",
    "🎉",
    "value",
    "typeId",
    "data",
    "profiles",
    '"',
    "\\",
    "/",
    "\x00",
    "\x1f",
    "\x7f",
    "\u2028",
    "a\nb",
    "日本",
    "\U0010ffff",
    "\ufeff",
]
RANDOM_NUMBERS = [
    "0",
    "-1",
    "7",
    "1.50",
    "-0.0",
    "0.5",
    "0.000001",
    "-0.000001",
    "0.0000010",
    "0.00001",
    "12345.678",
    "18446744073709551616",
    "-9223372036854775809",
    "1" * 40,
    "9" * 4000,
    "1." + "0" * 50,
]
WEIRD_NUMBERS = [
    "-0",
    "0.0000001",
    "-0.0000001",
    "0.00000000",
    "0.000000",
    "1e5",
    "1E-3",
    "1.5E+2",
    "-1e-0",
    "00",
    "01",
    "1.",
    ".5",
    "+1",
    "NaN",
    "-",
    "Infinity",
    "9" * 4001,
    "-" + "9" * 4000,
    "0x1",
    "1_000",
    "１",
]
WEIRD_STRINGS = [
    '"\\ud800"',
    '"\\udc00"',
    '"\\ud800\\u0041"',
    '"a\\ud83c"',
    '"\\udf89\\ud83c"',
    '"\udcff"',
    '"\udcc0\udcaf"',
    '"\udced\udca0\udc80"',
    '"\udcf4\udc90\udc80\udc80"',
    '"\udce0\udc80\udcaf"',
    '"\udcc3"',
    '"\x01"',
    '"\t"',
    '"\\x"',
    '"\\u12"',
    '"\\u00G0"',
    '"\\\'"',
    '"\\U0041"',
    '"a',
    '"\udcf0\udc9f\udc8e"',
    '"\udcef\udcbb\udcbf"',
]
MUTATIONS = [
    b"",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b'"',
    b"\\",
    b" ",
    b"\t",
    b"\n",
    b"\r",
    b"\f",
    b"0",
    b"-",
    b"e",
    b".",
    b"\x00",
    b"\x1f",
    b"\x7f",
    b"\x80",
    b"\xc3",
    b"\xed",
    b"\xff",
    b"\\u",
    b"\\ud800",
    b"null",
    b"true",
    b'"value"',
    b'"typeId"',
    b'"a"',
    b"1",
    b"-0",
    b'"',
    b"\\u0000",
]


def random_member(rng: random.Random, weird: bool) -> tuple[bytes, str, bytes]:
    """(member text, layout, the profile's value): like ``profiles`` but from one seed (with ``weird``: edges, repeats, mutations)."""
    odd = (lambda p=0.08: rng.random() < p) if weird else (lambda p=0: False)

    def text():
        return (
            rng.choice(RANDOM_TEXTS)
            if rng.random() < 0.7
            else "".join(rng.choice(RANDOM_TEXTS) for _ in range(3))
        )

    def scalar():
        if odd(0.1):
            return Raw(rng.choice(WEIRD_NUMBERS + WEIRD_STRINGS))
        kind = rng.randrange(6)
        return [
            None,
            rng.random() < 0.5,
            Raw(rng.choice(RANDOM_NUMBERS)),
            text(),
            rng.randint(-(2**70), 2**70),
            Decimal(rng.randint(-(10**6), 10**6)).scaleb(-rng.randint(0, 5)),
        ][kind]

    def value(depth=0):
        roll = rng.random()
        if depth > 3 or roll < 0.6:
            return scalar()
        if roll < 0.62 and weird:
            return Raw(nested(rng.choice([62, 63, 64, 65]), rng.choice(["", "1"])))
        if roll < 0.8:
            return [value(depth + 1) for _ in range(rng.randrange(4))]
        keys = [text() for _ in range(rng.randrange(4))]
        if not weird:
            keys = list(dict.fromkeys(keys))
        return Obj((k, value(depth + 1)) for k in keys)

    def unique(keys):
        return keys if odd(0.2) else list(dict.fromkeys(keys))

    def attributes():
        pairs = []
        for key in unique([text() for _ in range(rng.randrange(5))]):
            entry = [("value", value())]
            if odd():
                entry = rng.choice(
                    [[], [*entry, ("history", [])], [("other", 1), *entry], [*entry, ("value", 2)]]
                )
            pairs.append((key, Obj(entry) if not odd(0.03) else rng.choice([None, [], "x", 1])))
        return Obj(pairs)

    def event():
        def times():
            return (
                rng.choice([None, 0, MIN_MS, MAX_MS, -1, 1714564800000, rng.randint(MIN_MS, MAX_MS)])
                if not odd(0.1)
                else Raw(
                    rng.choice(
                        [
                            "-0",
                            "1.0",
                            "1e3",
                            "007",
                            '"5"',
                            "true",
                            str(MIN_MS - 1),
                            str(MAX_MS + 1),
                            "99999999999999999999",
                            "-",
                        ]
                    )
                )
            )

        fields = [("typeId", text() if not odd(0.1) else rng.choice([None, 7, Raw("7.0"), Obj()]))]
        for name, make in [
            ("correlationId", lambda: rng.choice([None, text()]) if not odd(0.1) else 7),
            ("sourceEventTime", times),
            ("createdAt", times),
            ("data", value),
        ]:
            if rng.random() < 0.6:
                fields.append((name, make()))
        rng.shuffle(fields)
        if odd():
            fields = fields[1:]
        if odd():
            fields.append(
                rng.choice(
                    [("typeId", "x"), ("data", 1), ("extra", 1), ("createdAt", 5), ("correlationId", None)]
                )
            )
        return Obj(fields) if not odd(0.03) else rng.choice([None, 1, [], Obj()])

    def section():
        pairs = []
        if rng.random() < 0.7:
            pairs.append(("attributes", attributes() if not odd(0.03) else rng.choice([[], None])))
        if rng.random() < 0.7:
            pairs.append(("events", [event() for _ in range(rng.randrange(4))] if not odd(0.03) else Obj()))
        rng.shuffle(pairs)
        if odd():
            pairs.append(rng.choice([("topics", []), ("attributes", Obj()), ("events", [])]))
        return Obj(pairs) if not odd(0.03) else rng.choice([None, [], "x"])

    layout = rng.choice([WRAPPED, BARE])
    sections = Obj((key, section()) for key in unique([text() for _ in range(rng.randrange(4))]))
    profile = Obj([("sections", sections)]) if layout == WRAPPED else sections
    if layout == WRAPPED and odd():
        profile = Obj(rng.sample([*profile, ("score", 3)], 2))
    space = lambda: rng.choice(SPACES)  # noqa: E731
    encoded = dump(profile, rng).encode("utf-8", "surrogateescape")
    if weird and rng.random() < 0.4:
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(encoded) + 1)
            encoded = encoded[:at] + rng.choice(MUTATIONS) + encoded[at + rng.randrange(3) :]
    key = dump_string(text() if not odd() else "profiles", rng)
    return (space() + key + space() + ":" + space()).encode() + encoded + space().encode(), layout, encoded


@pytest.mark.slow
@settings(max_examples=3000, **SETTINGS)
@given(st.integers(0, 2**64), st.booleans())
def test_random_profiles_are_mapped_as_python_maps_them_or_refused(seed, ambiguous):
    rng = random.Random(seed)
    text, layout, _ = random_member(rng, weird=True)
    attributes, events = rng.choice([(True, True), (True, False), (False, True)])
    compare(text, layout, ambiguous=ambiguous, attributes=attributes, events=events)


@pytest.mark.slow
@settings(max_examples=500, **SETTINGS)
@given(st.integers(0, 2**64))
def test_random_ordinary_profiles_are_accepted(seed):
    text, layout, _ = random_member(random.Random(seed), weird=False)
    assert compare(text, layout), text


# --- the scan ------------------------------------------------------------------------------------


def scan_blocks(blocks: list[bytes], state: tuple[bool, int, int], compiled: bool):
    """Tokens and deep offsets of each block, and the carried state, by one of the two scans."""
    scan = _scan.BlockScanner(_members.NEAR_LIMIT)
    scan.in_string, scan.backslashes, scan.depth = state
    out, base = [], 0
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_compiled, "scan", _native.scan if compiled else None)
        for block in blocks:
            before = len(scan.deep)
            tokens = scan.tokens(block, base)
            out.append((tokens, scan.deep[before:]))
            base += len(block)
    return out, (scan.in_string, scan.backslashes & 1, scan.depth)


@settings(max_examples=400, **SETTINGS)
@given(
    st.lists(
        st.sampled_from(
            [
                b'"',
                b"\\",
                b"{",
                b"}",
                b"[",
                b"]",
                b",",
                b" ",
                b"a",
                b":",
                b"\\\\",
                b'\\"',
                b"\xff",
                b"{{{{",
                b"]]]]",
            ]
        ),
        max_size=150,
    ),
    st.lists(st.integers(0, 400), max_size=8),
    st.booleans(),
    st.integers(0, 3),
    st.integers(-3, 4),
    st.integers(-2, 12),
)
def test_compiled_scan_equals_numpy_scan(pieces, cuts, in_string, backslashes, depth, max_depth):
    data = b"".join(pieces)
    points = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    blocks = [data[a:b] for a, b in itertools.pairwise(points) if b > a]
    state = (in_string, backslashes, depth)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_members, "NEAR_LIMIT", max_depth)  # deep offsets at small depths
        assert scan_blocks(blocks, state, compiled=True) == scan_blocks(blocks, state, compiled=False)


def test_compiled_scan_on_real_documents():
    for data, sizes in [
        ((SAMPLE_DATA / "tiny.json").read_bytes(), (1, 7, 4096)),
        ((SAMPLE_DATA / "small.json").read_bytes(), (4099, 65536)),
    ]:
        for size in (*sizes, len(data)):
            blocks = [data[i : i + size] for i in range(0, len(data), size)]
            compiled = scan_blocks(blocks, (False, 0, 0), compiled=True)
            assert compiled == scan_blocks(blocks, (False, 0, 0), compiled=False)
            assert compiled[1] == (False, 0, 0)
            assert any(tokens for tokens, _ in compiled[0])


def test_compiled_scan_arguments():
    tokens, deep, in_string, odd, depth = _native.scan(
        b'{"a":[{}],"b":"\\"{"}', 10, in_string=False, odd_backslashes=False, depth=0, deep_from=1
    )
    assert tokens == [
        (10, ord("{"), 0),
        (15, ord("["), 1),
        (18, ord("]"), 1),
        (19, ord(","), 1),
        (29, ord("}"), 0),
    ]
    assert deep == [15, 16] and (in_string, odd, depth) == (False, False, 0)
    assert _native.scan(
        bytearray(b"\\"), 0, in_string=True, odd_backslashes=True, depth=5, deep_from=100
    ) == ([], [], True, False, 5)
    assert _native.scan(b"", 0, in_string=False, odd_backslashes=False, depth=-2, deep_from=100) == (
        [],
        [],
        False,
        False,
        -2,
    )
    with pytest.raises(TypeError):
        _native.scan("text", 0, in_string=False, odd_backslashes=False, depth=0, deep_from=1)
    with pytest.raises(TypeError):  # the carried state by position
        _native.scan(b"{}", 0, False, False, 0, 1)
    with pytest.raises(TypeError):  # or not all of it
        _native.scan(b"{}", 0, in_string=False, odd_backslashes=False, depth=0)


# --- end to end ----------------------------------------------------------------------------------


def outcome(source, out: Path, **options):
    """The files and summary of a conversion, or its error."""
    try:
        summary = apsis_export.convert(source, out, **options)
    except InputError as error:
        return ("error", error.problem, error.offset, error.profile_key)
    return (
        "ok",
        files(out),
        {name: getattr(summary, name) for name in SUMMARY_FIELDS},
        sorted(summary.outputs),
    )


def both(source, workdir: Path, **options) -> list[tuple[bytes, object]]:
    """Convert with the compiled step and without: the same outcome. The compiled run's add calls."""
    with recording() as calls:
        with pure_python():
            expected = outcome(source, Path(tempfile.mkdtemp(dir=workdir)), **options)
        assert not calls, "the compiled step ran while switched off"
        got = outcome(source, Path(tempfile.mkdtemp(dir=workdir)), **options)
    assert got == expected
    return calls


def accepted(calls, key: str) -> list[bool]:
    """Whether add accepted each call for the member keyed ``key``."""
    prefix = json.dumps(key).encode()
    return [found is not None for text, found in calls if text.lstrip(b" \t\r\n").startswith(prefix)]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", ["tiny.json", "small.json.gz"])
def test_samples(tmp_path, fmt, name):
    calls = both(SAMPLE_DATA / name, tmp_path, format=fmt, jobs=1)
    refused = [text for text, found in calls if found is None]
    # tiny.json's first profile holds unknown keys (extras), lone escapes and such: Python maps it
    assert (len(calls), len(refused)) == ((3, 1) if name == "tiny.json" else (22, 0))


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("layout", ["wrapped", "bare"])
def test_generated_exports(tmp_path, fmt, layout):
    stats = apsis_export.generate(tmp_path / "g.json", size=80_000, seed=11, layout=layout)
    input_layout = (
        "auto" if fmt == "jsonl" else layout
    )  # auto: a bare file's first profile is decoded in Python
    calls = both(stats.path, tmp_path, format=fmt, jobs=1, input_layout=input_layout)
    assert len(calls) >= stats.profiles - 1 and all(found is not None for _, found in calls)


@pytest.mark.parametrize(
    "tables", [["attributes"], ["events"], ["extras"], ["events", "attributes", "extras"]]
)
def test_some_tables(tmp_path, tables):
    """The compiled step keeps only the tables written (and still checks the rest)."""
    ordinary = as_value(ORDINARY, WRAPPED)
    members = [
        ("a", ordinary),
        ("b", as_value(TRICKY_BY_NAME["repeated-attribute"], WRAPPED)),
        ("c", ordinary),
        ("d", as_value(TRICKY_BY_NAME["value-and-other"], WRAPPED)),
        ("e", ordinary),
    ]
    (tmp_path / "doc.json").write_bytes(document(members, WRAPPED))
    for fmt in FORMATS:
        calls = both(tmp_path / "doc.json", tmp_path, format=fmt, tables=tables)
        assert [found is not None for _, found in calls] == [
            True,
            "attributes" not in tables,
            True,
            False,
            True,
        ]


@pytest.mark.slow
def test_with_jobs(tmp_path, monkeypatch):
    """Workers map profiles with the compiled step too (forked: they see the switch)."""
    monkeypatch.setattr(_parallel, "start_method", "fork")
    monkeypatch.setattr(_units, "UNIT_BYTES", 2000)
    monkeypatch.setattr(_members, "BLOCK_SIZE", 8192)
    monkeypatch.setattr(_parallel, "INLINE_UNITS", 1)
    stats = apsis_export.generate(tmp_path / "g.json", size=60_000, seed=5, layout="bare")
    both(stats.path, tmp_path, format="parquet", jobs=2)
    mixed = tmp_path / "mixed.json"  # every tricky profile the Python fast path maps, accepted or not
    mixed.write_bytes(document([(name, value) for name, value, _ in clean_cases(WRAPPED)], WRAPPED))
    # and where a worker meets a profile only the exact engine reads (it then reads the rest)
    ordinary = as_value(ORDINARY, WRAPPED)
    handover = tmp_path / "handover.json"
    handover.write_bytes(
        document(
            [(f"p{i}", ordinary) for i in range(30)]
            + [("x", as_value(attr(r'"\ud800"'), WRAPPED))]
            + [(f"q{i}", ordinary) for i in range(30)],
            WRAPPED,
        )
    )
    for fmt in FORMATS:
        both(mixed, tmp_path, format=fmt, jobs=2)
        both(handover, tmp_path, format=fmt, jobs=2)


def document(members: list[tuple[str, bytes]], layout: str) -> bytes:
    body = b",".join(member(key, value) for key, value in members)
    return b'{"profiles": {' + body + b'}, "metadata": {"n": 1}}' if layout == WRAPPED else b"{" + body + b"}"


TRICKY_BY_NAME = {name: sections for name, sections, _ in TRICKY}


def read_in_python(layout: str, value: bytes) -> bool:
    """True if the fast engine's Python path maps this profile itself: no handover to the
    exact engine, no error (such profiles can share a document)."""
    try:
        return _decode.read_profile(member("tricky", value), layout) is not None
    except InputError:
        return False


def clean_cases(layout: str) -> list[tuple[str, bytes, bool]]:
    return [
        (name, value, accepted)
        for name, lay, value, accepted in (p.values for p in TRICKY_MEMBERS)
        if lay == layout and read_in_python(layout, value)
    ]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("layout", [WRAPPED, BARE])
def test_tricky_profiles_in_one_document(tmp_path, layout, fmt):
    """The tricky profiles Python maps, each after an ordinary one, in one document: the same
    files, and each accepted or refused as it should be (rows of refused ones in between)."""
    cases = clean_cases(layout)
    assert len(cases) > 100
    ordinary = as_value(ORDINARY, layout)
    members = [("first", ordinary)]
    for n, (name, value, _) in enumerate(cases):
        members += [(name, value), (f"ordinary{n}", ordinary)]
    (tmp_path / "doc.json").write_bytes(document(members, layout))
    input_layout = "auto" if fmt == "jsonl" else layout
    calls = both(tmp_path / "doc.json", tmp_path, format=fmt, input_layout=input_layout)
    for n, (name, _, expected) in enumerate(cases):
        assert accepted(calls, name) == [expected], name
        assert accepted(calls, f"ordinary{n}") == [True]


@pytest.mark.parametrize("layout", [WRAPPED, BARE])
def test_other_tricky_profiles_in_a_document(tmp_path, layout):
    """The rest (the exact engine reads them, or reports an error): one document each, the
    same outcome either way."""
    ordinary = as_value(ORDINARY, layout)
    cases = [
        (name, value, accepted)
        for name, lay, value, accepted in (p.values for p in TRICKY_MEMBERS)
        if lay == layout and not read_in_python(layout, value)
    ]
    assert len(cases) > 50
    for n, (name, value, expected) in enumerate(cases):
        if (
            name == "5000-digits"
        ):  # beyond Python's 4300 digits the exact engine's ijson (yajl2_c) fails or crashes
            continue
        (tmp_path / "doc.json").write_bytes(
            document([("before", ordinary), ("tricky", value), ("after", ordinary)], layout)
        )
        try:
            calls = both(tmp_path / "doc.json", tmp_path, format=FORMATS[n % 3], input_layout=layout)
        except AssertionError as error:
            raise AssertionError(f"{name}: {error}") from None
        assert accepted(calls, "before") == [True], name
        # an unterminated string hides the rest of the document from the scan: no member to add
        assert accepted(calls, "tricky") == ([] if name == "unterminated" else [expected]), name
        assert accepted(calls, "after") in ([True], []), name  # []: the exact engine read on


@pytest.mark.parametrize("fmt", FORMATS)
def test_batches_of_compiled_and_python_rows(tmp_path, fmt):
    """More rows than a batch (BATCH_ROWS) holds, compiled and Python-mapped profiles mixed:
    batches of native and list parts, and Parquet row groups, as without the compiled step."""
    ordinary = (
        '{"s": {"attributes": {%s}, "events": [{"typeId": "t", "createdAt": %%d, "data": [%%d]}]}}'
        % ", ".join('"a%d": {"value": %d}' % (i, i) for i in range(7))
    )
    refused = '{"s": {"attributes": {"a": {"value": 1, "history": []}}, "events": [{"typeId": 5, "createdAt": %d}]}}'
    members = [
        (f"p{i}", ((refused % i) if i % 97 == 0 else (ordinary % (i, i))).encode()) for i in range(3000)
    ]
    (tmp_path / "doc.json").write_bytes(document(members, BARE))
    calls = both(tmp_path / "doc.json", tmp_path, format=fmt, input_layout="bare")
    assert sum(found is None for _, found in calls) == 31 and len(calls) == 3000


@pytest.mark.parametrize("layout", [WRAPPED, BARE])
def test_runs_of_members_in_one_call(tmp_path, monkeypatch, layout):
    """Profile members between a block's commas go to the compiled step a run at a time
    (ProfileScan.batch), at most BATCH_MEMBERS a call; the summary still counts each profile."""
    ordinary = as_value(ORDINARY, layout)
    (tmp_path / "doc.json").write_bytes(document([(f"p{i}", ordinary) for i in range(1000)], layout))
    runs: list[int] = []
    add_many = NativeColumns.add_many

    def counted(self, buffer, base, spans, **flags):
        runs.append(len(spans) // 2)
        return add_many(self, buffer, base, spans, **flags)

    monkeypatch.setattr(NativeColumns, "add_many", counted)
    summary = apsis_export.convert(tmp_path / "doc.json", tmp_path / "out", input_layout=layout)
    assert summary.profiles == 1000 and summary.rows["attributes"] == 4000
    assert max(runs) == _members.BATCH_MEMBERS and sum(runs) >= 998 and len(runs) <= 1000 // 32


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("layout", [WRAPPED, BARE])
def test_members_parsed_where_they_lie(tmp_path, monkeypatch, fmt, layout):
    """Past the first block, the compiled step parses the members where they lie (add_run), and
    the scan reads only what it leaves: the same outcome as without the compiled step."""
    monkeypatch.setattr(_members, "BLOCK_SIZE", 32 * 1024)
    stats = apsis_export.generate(tmp_path / "g.json", size=1_500_000, seed=3, layout=layout)
    taken: list[int] = []
    add_run = NativeColumns.add_run

    def counted(self, *args, **options):
        found = add_run(self, *args, **options)
        taken.append(found[0])
        return found

    monkeypatch.setattr(NativeColumns, "add_run", counted)
    calls = both(stats.path, tmp_path, format=fmt, input_layout=layout)
    assert len(calls) >= stats.profiles - 1 and all(found is not None for _, found in calls)
    assert sum(taken) > 0.8 * stats.profiles  # the rest: the first block's, and one a block


def test_a_big_member_is_tried_twice(tmp_path, monkeypatch):
    """A member many blocks long is parsed where it lies at most MEMBER_TRIES times (then the
    scan finds its end), so no input makes the parse quadratic; the outcome is unchanged."""
    monkeypatch.setattr(_members, "BLOCK_SIZE", 4096)
    ordinary = as_value(ORDINARY, WRAPPED)
    big = as_value(
        '{"s": {"attributes": {%s}}}' % ", ".join(f'"a{i}": {{"value": {i}}}' for i in range(20_000)), WRAPPED
    )
    members = (
        [(f"p{i}", ordinary) for i in range(50)] + [("big", big)] + [(f"q{i}", ordinary) for i in range(50)]
    )
    (tmp_path / "doc.json").write_bytes(document(members, WRAPPED))
    starts: list[int] = []
    add_run = NativeColumns.add_run

    def counted(self, buffer, base, start, **options):
        starts.append(start)
        return add_run(self, buffer, base, start, **options)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(NativeColumns, "add_run", counted)
        calls = both(tmp_path / "doc.json", tmp_path, format="parquet")
    big_start = (tmp_path / "doc.json").read_bytes().index(b'"big"')
    assert len(big) > 100 * 4096 and 1 <= starts.count(big_start) <= _members.MEMBER_TRIES
    assert accepted(calls, "big") == [True] and len(calls) == 101


def test_small_blocks(tmp_path, monkeypatch):
    """The compiled scan carries its state across blocks of any size."""
    ordinary = as_value(ORDINARY, WRAPPED)
    members = [
        ("first", ordinary),
        *[(name, value) for name, value, _ in clean_cases(WRAPPED) if len(value) < 300][::3],
    ]
    (tmp_path / "doc.json").write_bytes(document(members, WRAPPED))
    for size in (1, 7, 64):
        monkeypatch.setattr(_members, "BLOCK_SIZE", size)
        calls = both(tmp_path / "doc.json", tmp_path, format="jsonl")
        assert accepted(calls, "first") == [True]


@pytest.mark.parametrize("fmt", FORMATS)
def test_bare_profile_keyed_profiles(tmp_path, fmt):
    """Auto-detected bare layout: a profile keyed "profiles" is ambiguous, the exact engine decides."""
    ordinary = as_value(ORDINARY, BARE)
    (tmp_path / "doc.json").write_bytes(
        document(
            [("first", ordinary), ("second", ordinary), ("profiles", ordinary), ("last", ordinary)], BARE
        )
    )
    calls = both(tmp_path / "doc.json", tmp_path, format=fmt)
    assert accepted(calls, "second") == [True] and accepted(calls, "profiles") == [False]
    calls = both(tmp_path / "doc.json", tmp_path, format=fmt, input_layout="bare")
    assert accepted(calls, "profiles") == [True]


@settings(max_examples=30, **SETTINGS)
@given(
    invented_exports, st.sampled_from(["wrapped", "bare"]), st.integers(0, 2**32), st.sampled_from(FORMATS)
)
def test_invented_exports(export, layout, seed, fmt):
    rng = random.Random(seed)
    doc = (
        {"profiles": {k: {"sections": v} for k, v in export.items()}, "metadata": {"n": 1}}
        if layout == "wrapped"
        else export
    )
    with tempfile.TemporaryDirectory() as workdir:
        path = Path(workdir) / "doc.json"
        path.write_bytes(to_json(doc, rng).encode())
        both(path, Path(workdir), format=fmt)


@settings(max_examples=60, **SETTINGS)
@given(
    st.lists(st.integers(0, 2**64), min_size=1, max_size=6),
    st.sampled_from([WRAPPED, BARE]),
    st.booleans(),
    st.sampled_from(FORMATS),
)
def test_documents_of_random_profiles(seeds, layout, auto, fmt):
    """Profiles in one layout (the generator's other-layout ones then have a wrong shape)."""
    members = [random_member(random.Random(seed), weird=seed % 3 == 0) for seed in seeds]
    data = document([(f"p{i}", value) for i, (_, _, value) in enumerate(members)], layout)
    with tempfile.TemporaryDirectory() as workdir:
        path = Path(workdir) / "doc.json"
        path.write_bytes(data)
        both(path, Path(workdir), format=fmt, input_layout="auto" if auto else layout)


@pytest.mark.parametrize("json_mode", [False, True])
def test_iso_times_equal_the_python_text(json_mode):
    """iso_times (CSV, JSONL): event times written by the C code as _encode.iso_millis writes them."""
    import random

    from apsis_export._encode import iso_millis

    rng = random.Random(5)
    edges = [
        -62135596800000,
        -62135596799999,
        -1,
        1,
        999,
        1000,
        86399999,
        86400000,
        951782400000,
        951868799999,
        4107542399999,
        253402300799999,
        1714564800123,
    ]
    times = edges + [rng.randint(-62135596800000, 253402300799999) for _ in range(2000)]
    builder = NativeColumns(json=json_mode, iso_times=True)
    events = ", ".join(f'{{"typeId": "t", "createdAt": {ms}, "sourceEventTime": {ms}}}' for ms in times)
    assert (
        builder.add(
            f'"p": {{"sections": {{"s": {{"events": [{events}]}}}}}}'.encode(), wrapped=True, ambiguous=False
        )
        is not None
    )
    _, columns = builder.take()
    texts = [iso_millis(ms) for ms in times]
    expected = [f'"{t}"' for t in texts] if json_mode else texts
    assert columns[5].to_pylist() == expected  # created_at
    assert columns[4].to_pylist() == expected  # source_event_time (no 0 among them)


def test_join_lines_equals_arrows_join_on_slices_and_nulls():
    """join_lines (the JSONL sink's join in C) gives Arrow's binary_join_element_wise lines,
    also for sliced arrays and null rows (written null)."""
    import random

    import pyarrow as pa
    import pyarrow.compute as pc

    rng = random.Random(3)
    values = [
        [
            None if rng.random() < 0.1 else "".join(rng.choice('ab"\\é{}') for _ in range(rng.randint(0, 9)))
            for _ in range(300)
        ]
        for _ in range(4)
    ]
    keys = [b'{"a":', b',"b":', b',"c":', b',"d":']
    for start, stop in [(0, 300), (17, 250), (299, 300), (5, 5)]:
        texts = [
            pa.array(column, pa.large_binary() if i % 2 else pa.string())
            .slice(start, stop - start)
            .cast(pa.large_binary())
            for i, column in enumerate(values)
        ]
        got = _native.join_lines(keys, b"}\n", [(*t.buffers(), t.offset) for t in texts], stop - start)
        pieces = []
        for key, text in zip(keys, texts, strict=True):
            pieces += [pa.scalar(key, pa.large_binary()), text.fill_null(b"null")]
        joined = pc.binary_join_element_wise(
            *pieces, pa.scalar(b"}\n", pa.large_binary()), pa.scalar(b"", pa.large_binary())
        )
        assert got == b"".join(joined.to_pylist())
    with pytest.raises(ValueError):
        _native.join_lines(keys[:1], b"}\n", [(*texts[0].buffers(), texts[0].offset)], 10**6)


def test_join_lines_refuses_offsets_outside_its_buffers():
    """join_lines checks every offset it would follow: a negative array offset, offsets that go
    down or past the data, or buffers shorter than the rows are a ValueError, never a write or
    read out of bounds (ASan found one before these checks)."""
    import numpy as np

    def column(offsets, data=b"abcdef", validity=None, first=0):
        return (validity, np.array(offsets, np.int64).tobytes(), data, first)

    good = column([0, 2, 4])
    assert _native.join_lines([b"{"], b"}\n", [good], 2) == b"{ab}\n{cd}\n"
    for bad, rows in [
        (column([0, 4, 2, 6]), 3),  # not ascending (the first and last are in range)
        (column([0, 2, 4], first=-1), 1),  # a negative array offset
        (column([0, 2, 4], first=2**62), 1),  # an array offset past the offsets
        (column([0, 2, 40]), 2),  # past the data
        (column([-2, 2, 4]), 2),  # before the data
        (column([0, 2, 4]), 3),  # more rows than offsets
        (column([0] * 20, validity=b"\xff"), 19),
    ]:  # a bitmap shorter than the rows
        with pytest.raises(ValueError):
            _native.join_lines([b"{"], b"}\n", [bad], rows)


def test_refusals_are_counted_by_reason(tmp_path):
    """A profile the compiled step leaves to Python is counted under why (convert's summary
    has them, the CLI shows them with --debug); accepted ones are not counted."""
    wide = "{" + ",".join(f'"k{i}": {i}' for i in range(65)) + "}"
    members = {
        "many-keys": data(wide),
        "deep": data(nested(65)),
        "repeat": data('{"a": 1, "a": 2}'),
        "exponent": data("1e5"),
        "surrogate": data('"\\udc00"'),
        "ordinary": data('{"a": 1}'),
    }
    builder = NativeColumns(json=False)
    for key, value in members.items():
        builder.add(f'"{key}": {value}'.encode(), wrapped=False, ambiguous=False)
    assert builder.refusals == {
        "an object below a value or data with more than 64 keys": 1,
        "a value or data nested deeper than 64 levels": 1,
        "a repeated key, attribute ID or section ID": 1,
        "a number Python writes otherwise (an exponent, -0, a decimal below 1e-6, over 4000 digits)": 1,
        "text Python reads otherwise (invalid UTF-8, a lone surrogate)": 1,
    }
    del members["surrogate"]  # which the exact engine refuses too
    path = tmp_path / "in.json"
    path.write_text(
        '{"profiles": {' + ",".join(f'"{k}": {{"sections": {v}}}' for k, v in members.items()) + "}}"
    )
    summary = apsis_export.convert(path, tmp_path / "out", format="csv")
    assert sum(summary.refused.values()) == 4 and summary.profiles == 5


# --- one member exactly, each refusal under its reason (cases written for a yyjson-based step) ---

REASON = {  # Builder.refusals' keys by the C names of the reasons (_native.c, REASONS)
    "R_SHAPE": "not the common shape (an unknown or missing field, another type, a syntax error)",
    "R_KEYS": "an object below a value or data with more than 64 keys",
    "R_DEPTH": "a value or data nested deeper than 64 levels",
    "R_REPEATED": "a repeated key, attribute ID or section ID",
    "R_NUMBER": "a number Python writes otherwise (an exponent, -0, a decimal below 1e-6, over 4000 digits)",
    "R_TEXT": "text Python reads otherwise (invalid UTF-8, a lone surrogate)",
    "R_TIME": "a time that is not an integer within years 1..9999",
    "R_AMBIGUOUS": 'a bare profile keyed "profiles"',
}


def deep_object(depth: int, inner: str = "{}") -> str:
    """``inner`` as the innermost of ``depth`` nested objects ({"k": {"k": ... inner}})."""
    return '{"k": ' * (depth - 1) + inner + "}" * (depth - 1)


@pytest.mark.parametrize(
    "text, ambiguous, reason",
    [
        # the member's text must be exactly one member: what follows or precedes it is refused
        (member("p", ORDINARY) + b" x", False, "R_SHAPE"),
        (member("p", ORDINARY) + b"}", False, "R_SHAPE"),
        (member("p", ORDINARY) + b'}, {"q": {}', False, "R_SHAPE"),
        (member("p", ORDINARY) + b"\x00", False, "R_SHAPE"),
        (member("p", ORDINARY) + b',"q": {}', False, "R_SHAPE"),
        (member("p", ORDINARY) + b",", False, "R_SHAPE"),
        (b"{} " + member("p", ORDINARY), False, "R_SHAPE"),
        (b"\xef\xbb\xbf" + member("p", ORDINARY), False, "R_SHAPE"),  # a BOM
        (b"", False, "R_SHAPE"),
        # NUL: a raw one is a control character; escaped, it is text like any other
        (member("p", attr('"a\x00b"')), False, "R_SHAPE"),
        (member("p", attr(r'"a\u0000b"')), False, None),
        (member("p", data(r'{"\u0000": "\u0000", "\u0000\u0000": [""]}')), False, None),
        (member("p\x00q", event(r'"typeId": "\u0000", "correlationId": "a\u0000"')), False, None),
        # nesting below data / value: 64 levels, not 65, whatever the container
        (member("p", data(nested(64))), False, None),
        (member("p", data(nested(63, "1"))), False, None),
        (member("p", data(nested(64, "1"))), False, "R_DEPTH"),
        (member("p", data(nested(65))), False, "R_DEPTH"),
        (member("p", attr(nested(64))), False, None),
        (member("p", attr(nested(65))), False, "R_DEPTH"),
        (member("p", data(deep_object(64))), False, None),
        (member("p", data(deep_object(65))), False, "R_DEPTH"),
        (member("p", attr(deep_object(64, '"x"'))), False, None),
        (member("p", attr(deep_object(65, '"x"'))), False, "R_DEPTH"),
        (member("p", data(nested(100_000))), False, "R_DEPTH"),
        (member("p", data(nested(100_000)[:-1])), False, "R_DEPTH"),  # unclosed: too deep before that
        # keys below data: 64 of them, repeats compared as decoded text
        (member("p", data("{%s}" % ",".join(f'"k{i}": {i}' for i in range(64)))), False, None),
        (member("p", data("{%s}" % ",".join(f'"k{i}": {i}' for i in range(65)))), False, "R_KEYS"),
        (member("p", data(r'{"a": 1, "\u0061": 2}')), False, "R_REPEATED"),
        (member("p", data(r'[{"a": 1}, {"a": 2}]')), False, None),
        # digits: 4000 of an integer (with its sign), exponents, -0
        (member("p", attr("7" * 4000)), False, None),
        (member("p", attr("7" * 4001)), False, "R_NUMBER"),
        (member("p", attr("-" + "7" * 3999 + ".5")), False, None),
        (member("p", attr("-" + "7" * 4000)), False, "R_NUMBER"),
        (member("p", data("[1, 1e400]")), False, "R_NUMBER"),
        (member("p", data("-0")), False, "R_NUMBER"),
        (member("p", attr("01")), False, "R_SHAPE"),
        (member("p", attr("1.")), False, "R_SHAPE"),
        (member("p", attr("NaN")), False, "R_SHAPE"),
        (member("p", attr("Infinity")), False, "R_SHAPE"),
        # times
        (member("p", times("253402300799999")), False, None),
        (member("p", times("253402300800000")), False, "R_TIME"),
        (member("p", times("1" * 16)), False, "R_TIME"),
        (member("p", times("-0")), False, "R_TIME"),
        (member("p", times("5.0")), False, "R_TIME"),
        (member("p", times("5e3")), False, "R_TIME"),
        (member("p", times('"5"')), False, "R_SHAPE"),
        # text: invalid UTF-8 and broken surrogates anywhere, and other escapes
        (member("p", attr(b'"\xff"')), False, "R_TEXT"),
        (member("p", b'{"\xed\xa0\x80": {}}'), False, "R_TEXT"),
        (member("p", attr(r'"\ud800"')), False, "R_TEXT"),
        (member("p", attr(r'"\udc00"')), False, "R_TEXT"),
        (member("p", attr(r'"\ud800\u0041"')), False, "R_TEXT"),
        (member("p", attr(r'"\ud800\u00G1"')), False, "R_TEXT"),
        (member("p", attr(r'"\ud83c\udf89"')), False, None),
        (member("p", attr(r'"\u00G1"')), False, "R_SHAPE"),
        (member("p", attr(r'"\x41"')), False, "R_SHAPE"),
        # the profile's levels
        (member("profiles", ORDINARY), True, "R_AMBIGUOUS"),
        (member("p", ORDINARY[:-1] + ', "s1": {}}'), False, "R_REPEATED"),
        (member("p", '{"s": {"attributes": {"a": {"value": 1}, "a": {"value": 2}}}}'), False, "R_REPEATED"),
        (member("p", '{"s": {"attributes": {"a": {"value": 1, "value": 2}}}}'), False, "R_SHAPE"),
        (member("p", '{"s": {"attributes": {"a": {}}}}'), False, "R_SHAPE"),
        (member("p", '{"s": {"attributes": {"a": {"x": 1}}}}'), False, "R_SHAPE"),
        (member("p", '{"s": {"attributes": {}, "attributes": {}}}'), False, "R_SHAPE"),
        (member("p", '{"s": {"events": [{"typeId": "t", "typeId": "u"}]}}'), False, "R_REPEATED"),
        (member("p", '{"s": {"events": [{"typeId": null}]}}'), False, "R_SHAPE"),
        (member("p", '{"s": {"events": [{"correlationId": "c"}]}}'), False, "R_SHAPE"),
        (member("p", '{"s": {"events": [[]]}}'), False, "R_SHAPE"),
    ],
)
def test_a_member_is_read_as_one_member(text, ambiguous, reason):
    """The text added is exactly one member; what the compiled step refuses is counted under why."""
    assert compare(text, BARE, ambiguous=ambiguous) == (reason is None)
    builder = NativeColumns(json=False)
    builder.add(text, wrapped=False, ambiguous=ambiguous)
    assert builder.refusals == ({} if reason is None else {REASON[reason]: 1})


@pytest.mark.parametrize(
    "value, reason",
    [
        ("{}", None),
        ('{"sections": {}}', None),
        ('{"sections": %s}' % ORDINARY, None),
        ('{"sections": %s, "sections": {}}' % ORDINARY, "R_SHAPE"),
        ('{"sections": %s, "x": 1}' % ORDINARY, "R_SHAPE"),
        ('{"x": 1}', "R_SHAPE"),
        ('{"sections": []}', "R_SHAPE"),
        ("[]", "R_SHAPE"),
        ('{"sections": %s} 1' % ORDINARY, "R_SHAPE"),
    ],
)
def test_the_wrapped_profile_and_its_refusals(value, reason):
    text = member("p", value)
    assert compare(text, WRAPPED) == (reason is None)
    builder = NativeColumns(json=True)
    builder.add(text, wrapped=True, ambiguous=True)
    assert builder.refusals == ({} if reason is None else {REASON[reason]: 1})


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _malloc_in_use() -> int:
    """Bytes the C heap holds for the process (glibc's mallinfo2: in arenas + mapped)."""
    mallinfo2 = ctypes.CDLL(None).mallinfo2
    mallinfo2.restype = _Mallinfo2
    info = mallinfo2()
    return info.uordblks + info.hblkhd


@pytest.mark.skipif(
    not hasattr(ctypes.CDLL(None), "mallinfo2"), reason="glibc's mallinfo2 counts the C heap (Linux)"
)
def test_a_huge_member_gives_its_memory_back():
    """The working space of a profile (its key, section IDs, a value or data compacted) and the
    columns' next buffers are kept from profile to profile and batch to batch, but not after one
    over a MiB: one huge profile does not keep them for the run."""
    huge = member("p", data("[%s]" % ",".join(["1"] * 3_000_000)))  # 6 MB of text, 3 M values
    small = member("q", ORDINARY)
    columns = NativeColumns(json=False)
    for text in (small, small):
        assert columns.add(text, wrapped=False, ambiguous=False) is not None
    columns.take()
    before = _malloc_in_use()
    assert columns.add(huge, wrapped=False, ambiguous=False) is not None
    assert columns.add(small, wrapped=False, ambiguous=False) is not None
    arrays = columns.take()
    data_texts = arrays[1][6].to_pylist()
    assert len(data_texts[0]) == 2 * 3_000_000 + 1 and data_texts[1:] == ['{"k":[1,2]}', None]
    del arrays, data_texts
    assert _malloc_in_use() - before < 2 * 1024 * 1024
