"""The exact engine and the shared shape mapping: bytes in, typed records out."""

from __future__ import annotations

import gzip
import io
import json
from decimal import Decimal

import pytest

import apsis_export
from apsis_export import Attribute, Event, Extra, InputError

from .conftest import SAMPLE_DATA, wrapped

SECTION = "usercreated.sections.europe-r6tz73a27t"


def records(source, **kw):
    return list(apsis_export.read(source, **kw))


def attrs(source, **kw):
    return [r for r in records(source, **kw) if isinstance(r, Attribute)]


def test_wrapped_layout_yields_attributes_and_events(write_export):
    doc = wrapped(
        {
            "p1": {
                SECTION: {
                    "attributes": {"com.apsis1.attributes.email": {"value": "a@example.com"}},
                    "events": [
                        {
                            "correlationId": "c1",
                            "sourceEventTime": 1714564800123,
                            "typeId": "4381",
                            "createdAt": 1714564800456,
                            "data": {"k": "v"},
                        }
                    ],
                }
            }
        }
    )
    assert records(write_export(doc)) == [
        Attribute("p1", SECTION, "com.apsis1.attributes.email", "a@example.com", "string"),
        Event("p1", SECTION, "c1", "4381", 1714564800123, 1714564800456, {"k": "v"}),
    ]


def test_bare_layout_gives_the_same_records_as_wrapped(write_export):
    sections = {
        SECTION: {
            "attributes": {"a": {"value": 1}, "t": {"value": None}},
            "events": [{"typeId": "9", "createdAt": 5, "sourceEventTime": 0}],
        }
    }
    bare = records(write_export({"p1": sections, "p2": sections}))
    wrap = records(write_export(wrapped({"p1": sections, "p2": sections})))
    assert bare == wrap
    assert [r.profile_key for r in bare] == ["p1", "p1", "p1", "p2", "p2", "p2"]


@pytest.mark.parametrize(
    "text, value, kind",
    [
        ('"text"', "text", "string"),
        ("true", True, "boolean"),
        ("false", False, "boolean"),
        ("42", 42, "number"),
        ("-7", -7, "number"),
        ("1234.50", Decimal("1234.50"), "number"),
        ("null", None, "null"),
        ('{"a": [1, "x"]}', {"a": [1, "x"]}, "object"),
        ("[]", [], "array"),
    ],
)
def test_every_value_type(write_export, text, value, kind):
    doc = '{"profiles": {"p": {"sections": {"s": {"attributes": {"a": {"value": %s}}}}}}}' % text
    [attribute] = attrs(write_export(doc))
    assert attribute.value == value and type(attribute.value) is type(value)
    assert attribute.value_type == kind


def test_tag_value_is_null(write_export):
    [tag] = attrs(
        write_export(wrapped({"p": {"s": {"attributes": {"com.apsis1.tags.vip": {"value": None}}}}}))
    )
    assert tag.value is None and tag.value_type == "null"


def test_big_integers_and_decimals_stay_exact(write_export):
    doc = '{"p": {"s": {"attributes": {"a": {"value": 123456789012345678901234567890}, "b": {"value": 0.10000000000000000001}, "c": {"value": 1.50}}}}}'
    a, b, c = attrs(write_export(doc))
    assert a.value == 123456789012345678901234567890
    assert str(b.value) == "0.10000000000000000001"
    assert str(c.value) == "1.50"


def test_unicode_and_escapes_are_decoded(write_export):
    text = 'Zo\u00eb "q" \\ / \n\t \u65e5\u672c \U0001f389 \u2028'
    [attribute] = attrs(
        write_export(wrapped({"p\u00e9": {"s\u00e9": {"attributes": {"\u00e5": {"value": text}}}}}))
    )
    assert (attribute.profile_key, attribute.section_id, attribute.attribute_id, attribute.value) == (
        "p\u00e9",
        "s\u00e9",
        "\u00e5",
        text,
    )


def test_surrogate_pair_escape_decodes_to_one_character(write_export):
    [attribute] = attrs(write_export(b'{"p": {"s": {"attributes": {"a": {"value": "\\ud83c\\udf89"}}}}}'))
    assert attribute.value == "\U0001f389"


def test_empty_sections_and_profiles_yield_no_records_but_count(write_export):
    doc = wrapped({"p1": {"s": {}}, "p2": {}}, metadata={})
    profiles = list(apsis_export.read_profiles(write_export(doc)))
    assert [(p.key, p.section_ids) for p in profiles] == [("p1", ["s"]), ("p2", []), (None, [])]
    assert all(not p.attributes and not p.events for p in profiles)


def test_source_event_time_zero_means_unknown(write_export):
    doc = wrapped({"p": {"s": {"events": [{"typeId": "1", "sourceEventTime": 0, "createdAt": 1}]}}})
    [event] = records(write_export(doc))
    assert event.source_event_time is None and event.created_at == 1


def test_numeric_ids_are_kept_as_text(write_export):
    doc = wrapped({"p": {"s": {"events": [{"typeId": 4381, "correlationId": 17, "createdAt": 1}]}}})
    [event] = records(write_export(doc))
    assert (event.type_id, event.correlation_id) == ("4381", "17")


def test_unknown_keys_become_extras_with_pointers_in_file_order(write_export):
    doc = {
        "metadata": {"exportedAt": "x"},
        "profiles": {
            "p": {
                "sections": {
                    "s": {
                        "attributes": {"a/b~c": {"value": 1, "history": [{"value": 0}]}},
                        "events": [{"typeId": "1", "createdAt": 1, "source": "email"}],
                        "topics": {"t": "opt-in"},
                    }
                },
                "topics": ["t1"],
            }
        },
        "version": 2,
    }
    extras = [r for r in records(write_export(doc)) if isinstance(r, Extra)]
    assert extras == [
        Extra(None, None, "/metadata", {"exportedAt": "x"}),
        Extra("p", "s", "/attributes/a~1b~0c/history", [{"value": 0}]),
        Extra("p", "s", "/events/0/source", "email"),
        Extra("p", "s", "/topics", {"t": "opt-in"}),
        Extra("p", None, "/topics", ["t1"]),
        Extra(None, None, "/version", 2),
    ]


def test_layout_detected_when_metadata_comes_first(write_export):
    doc = {
        "metadata": {"a": {"b": 1}},
        "profiles": {"p": {"sections": {"s": {"attributes": {"x": {"value": 1}}}}}},
    }
    assert [r.profile_key for r in attrs(write_export(json.dumps(doc)))] == ["p"]


def test_scalar_first_key_means_wrapped_layout(write_export):
    doc = '{"exportId": "e-1", "profiles": {"p": {"sections": {"s": {"attributes": {"x": {"value": 1}}}}}}}'
    out = records(write_export(doc))
    assert out == [Extra(None, None, "/exportId", "e-1"), Attribute("p", "s", "x", 1, "number")]


def test_profiles_key_after_bare_profiles_is_ambiguous(write_export):
    doc = '{"p": {"s": {}}, "profiles": {"q": {"sections": {}}}}'
    with pytest.raises(InputError, match="ambiguous layout"):
        records(write_export(doc))
    # ...and forcing the layout decides it.
    assert [p.key for p in apsis_export.read_profiles(write_export(doc), input_layout="bare")] == [
        "p",
        "profiles",
    ]


def test_forced_wrapped_layout_treats_other_keys_as_document_extras(write_export):
    doc = '{"p": {"s": {}}, "profiles": {"q": {"sections": {}}}}'
    profiles = list(apsis_export.read_profiles(write_export(doc), input_layout="wrapped"))
    assert [(p.key, [e.key for e in p.extras]) for p in profiles] == [(None, ["/p"]), ("q", [])]


def test_gzip_is_detected_from_magic_bytes_not_name(write_export):
    doc = wrapped({"p": {"s": {"attributes": {"a": {"value": "x"}}}}})
    plain = records(write_export(doc))
    assert records(write_export(doc, gz=True, name="no-extension")) == plain
    assert records(write_export(gzip.compress(json.dumps(doc).encode()), name="looks-plain.json")) == plain


def test_multi_member_gzip_is_read_whole(write_export):
    data = json.dumps(wrapped({"p": {"s": {"attributes": {"a": {"value": "x"}}}}})).encode()
    half = len(data) // 2
    path = write_export(gzip.compress(data[:half]) + gzip.compress(data[half:]))
    assert len(attrs(path)) == 1


def test_binary_file_object_source(write_export):
    data = json.dumps(wrapped({"p": {"s": {"attributes": {"a": {"value": "x"}}}}})).encode()
    assert len(attrs(io.BytesIO(gzip.compress(data)))) == 1


def test_records_come_in_file_order():
    got = [(type(r).__name__, r.profile_key) for r in apsis_export.read(SAMPLE_DATA / "tiny.json")]
    keys = [k for _, k in got]
    assert keys.index("bob-17") > max(
        i for i, k in enumerate(keys) if k == "anna@example.com" and got[i][0] != "Extra"
    )


def test_tiny_sample_shows_every_feature():
    out = records(SAMPLE_DATA / "tiny.json")
    kinds = {r.value_type for r in out if isinstance(r, Attribute)}
    assert kinds == {"string", "number", "boolean", "null", "object", "array"}
    events = [r for r in out if isinstance(r, Event)]
    assert any(e.source_event_time is None for e in events)
    assert len({e.correlation_id for e in events}) < len(events)  # a duplicate correlationId
    assert {e.key for e in out if isinstance(e, Extra)} == {
        "/metadata",
        "/topics",
        "/attributes/10462/history",
    }
    profiles = list(apsis_export.read_profiles(SAMPLE_DATA / "tiny.json"))
    assert "carl-no-sections" in [p.key for p in profiles]


def test_generated_sample_matches_its_gzip_twin():
    assert records(SAMPLE_DATA / "small.json") == records(SAMPLE_DATA / "small.json.gz")


def test_unknown_engine_and_layout_are_rejected():
    with pytest.raises(ValueError, match="unknown engine"):
        records(SAMPLE_DATA / "tiny.json", engine="nope")
    with pytest.raises(ValueError, match="layout"):
        records(SAMPLE_DATA / "tiny.json", input_layout="sideways")


def test_slow_ijson_backend_is_warned_about(monkeypatch):
    import ijson

    from apsis_export._engines import _exact

    monkeypatch.setattr(ijson, "backend", "python")
    monkeypatch.setattr(_exact, "_warned_backend", False)
    with pytest.warns(_exact.SlowBackendWarning, match="slow 'python' backend"):
        records(SAMPLE_DATA / "tiny.json", engine="exact")


def test_text_mode_file_is_refused_with_a_clear_message():
    with (
        open(SAMPLE_DATA / "tiny.json", encoding="utf-8") as fh,
        pytest.raises(TypeError, match="binary file object"),
    ):
        records(fh)


def test_reading_nothing_from_a_gzip_source_consumes_nothing():
    with apsis_export.open_source(SAMPLE_DATA / "small.json.gz") as src:
        assert src.read(0) == b"" and src.json_offset == 0
        assert src.read(5) == (SAMPLE_DATA / "small.json").read_bytes()[:5]
