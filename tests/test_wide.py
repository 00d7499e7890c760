"""The wide layout and split events, read back from real Parquet, CSV and JSONL files
and compared with the long records of the same export."""

from __future__ import annotations

import csv
import json
from datetime import date, datetime, timezone
from decimal import Decimal

import pyarrow.parquet as pq
import pytest

import apsis_export
from apsis_export import InputError, WideSchema
from apsis_export._generate import generated_metadata

from .conftest import SAMPLE_DATA, wrapped
from .test_metadata import EUROPE, sample_metadata

UTC = timezone.utc


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    return apsis_export.generate(tmp_path_factory.mktemp("wide") / "g.json", size=600_000, seed=11)


def expected_cell(arrow_type: str, value):
    """A long-table value as the wide column of that Arrow type must hold it (written here,
    independently of the converters under test)."""
    if value is None:
        return None
    if arrow_type == "bool":
        return value
    if arrow_type == "int64":
        return int(value)
    if arrow_type.startswith("decimal128"):
        return Decimal(value)
    if arrow_type == "date32[day]":
        return date.fromisoformat(value)
    if arrow_type.startswith("timestamp"):
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return value if isinstance(value, str) else json.dumps(value)


def long_values(path):
    """{(profile_key, section_id): {attribute_id: value}} and the sections of each profile, from read()."""
    cells, sections = {}, []
    for profile in apsis_export.read_profiles(path):
        if profile.key is None:
            continue
        for section_id in profile.section_ids:
            cells[(profile.key, section_id)] = {}
            sections.append((profile.key, section_id))
        for a in profile.attributes:
            cells[(a.profile_key, a.section_id)][a.attribute_id] = a.value
    return cells, sections


def test_discovered_wide_parquet_holds_every_value_typed(tmp_path, export):
    summary = apsis_export.convert(export.path, tmp_path, layout="wide")
    assert set(summary.outputs) == {"profiles", "events", "extras"} and summary.type_mismatches == 0
    table = pq.read_table(tmp_path / "profiles.parquet")
    assert table.num_rows == summary.rows["profiles"] == export.sections
    types = {f.name: str(f.type) for f in table.schema}
    # The generator's attribute 10000+7k+t has type t: text, boolean, date, timestamp, number, decimal.
    # Discovered from the values: numbers beyond int64 make an exact decimal(38, 0).
    expected_types = {
        0: "string",
        1: "bool",
        2: "date32[day]",
        3: "timestamp[ms, tz=UTC]",
        5: "decimal128(38, 2)",
    }
    for name, arrow_type in types.items():
        if name.isdigit():
            kind = (int(name) - 10000) % 7
            assert arrow_type == expected_types.get(kind, arrow_type), name
            if kind == 4:
                assert arrow_type in ("int64", "decimal128(38, 0)"), name
        elif name.startswith("tag."):
            assert arrow_type == "bool"
    assert any(t == "decimal128(38, 0)" for t in types.values()) and any(t == "int64" for t in types.values())

    cells, sections = long_values(export.path)
    rows = table.to_pylist()
    assert [(r["profile_key"], r["section_id"]) for r in rows] == sections  # file order, empty sections too
    tag_sections = {}
    for (_, section_id), values in cells.items():
        for attribute_id in values:
            tag_sections.setdefault(attribute_id, set()).add(section_id)
    for row in rows:
        values = cells[(row["profile_key"], row["section_id"])]
        for name, arrow_type in types.items():
            if name in ("profile_key", "section_id"):
                continue
            if name.startswith("tag."):  # present: true; absent: false where the tag occurs, else null
                expected = (
                    True if name in values else (False if row["section_id"] in tag_sections[name] else None)
                )
                assert row[name] is expected, (row["profile_key"], name)
            else:
                assert row[name] == expected_cell(arrow_type, values.get(name)), (row["profile_key"], name)


def test_wide_csv_and_jsonl_hold_the_same_values(tmp_path, export):
    apsis_export.convert(export.path, tmp_path / "pq", layout="wide", tables=["profiles"])
    apsis_export.convert(export.path, tmp_path / "csv", layout="wide", format="csv", tables=["profiles"])
    apsis_export.convert(export.path, tmp_path / "jsonl", layout="wide", format="jsonl", tables=["profiles"])
    table = pq.read_table(tmp_path / "pq" / "profiles.parquet")
    types = {f.name: str(f.type) for f in table.schema}
    with open(tmp_path / "csv" / "profiles.csv", newline="", encoding="utf-8") as fh:
        csv_rows = list(csv.DictReader(fh))
    jsonl_rows = [
        json.loads(line, parse_float=Decimal)
        for line in open(tmp_path / "jsonl" / "profiles.jsonl", encoding="utf-8")
    ]
    assert list(csv_rows[0]) == list(jsonl_rows[0]) == table.schema.names
    for row, from_csv, from_jsonl in zip(table.to_pylist(), csv_rows, jsonl_rows, strict=True):
        for name, value in row.items():
            kind = types[name]
            if value is None:
                text, native = "", None
            elif kind == "bool":
                text, native = str(value).lower(), value
            elif kind.startswith("timestamp"):
                text = native = value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
            elif kind.startswith("date"):
                text = native = value.isoformat()
            else:
                text, native = str(value), value
            assert from_csv[name] == text, (name, value)
            assert from_jsonl[name] == native, (name, value)


def test_named_wide_columns_come_from_the_metadata(tmp_path, export):
    meta = generated_metadata()
    summary = apsis_export.convert(export.path, tmp_path, layout="wide", names=meta, tables=["profiles"])
    table = pq.read_table(tmp_path / "profiles.parquet")
    types = {f.name: str(f.type) for f in table.schema}
    # Every attribute and tag the metadata defines, in its order, named and typed as declared.
    assert table.schema.names[:3] == ["profile_key", "section_id", "section_name"]
    assert len(types) == 3 + 75 * 6 + 25
    assert (
        types["text 0"],
        types["boolean 0"],
        types["date 0"],
        types["timestamp 0"],
        types["number 0"],
        types["decimal 0"],
        types["Tag 1"],
    ) == ("string", "bool", "date32[day]", "timestamp[ms, tz=UTC]", "int64", "decimal128(38, 10)", "bool")
    # Declared "number", but some generated values exceed int64: left null and counted.
    cells, _ = long_values(export.path)
    too_big = sum(
        1
        for values in cells.values()
        for k, v in values.items()
        if k.isdigit() and (int(k) - 10000) % 7 == 4 and isinstance(v, int) and v >= 2**63
    )
    assert too_big > 0 and summary.type_mismatches == too_big
    sections = {
        "usercreated.sections.europe-r6tz73a27t": "Europe",
        "usercreated.sections.newsletter-h4h3dpu3qi": "Newsletter",
        "com.apsis1.sections.default": "Default",
    }
    for row in table.to_pylist():
        assert row["section_name"] == sections[row["section_id"]]
        values = cells[(row["profile_key"], row["section_id"])]
        for k in range(75):
            assert row[f"text {k}"] == values.get(str(10000 + 7 * k))
            number = values.get(str(10000 + 7 * k + 4))
            assert row[f"number {k}"] == (number if number is not None and number < 2**63 else None)
        # Tags belong to the first section in these definitions: elsewhere null unless present.
        for n in range(1, 26):
            present = f"tag.{n}" in values
            assert row[f"Tag {n}"] is (True if present else (False if row["section_id"] == EUROPE else None))


def test_split_events_flatten_data_into_typed_columns(tmp_path, write_export):
    doc = wrapped(
        {
            "p1": {
                EUROPE: {
                    "events": [
                        {
                            "correlationId": "a",
                            "sourceEventTime": 0,
                            "typeId": "4381",
                            "createdAt": 1714564800456,
                            "data": {
                                "url": "https://x",
                                "price": 19.90,
                                "n": 3,
                                "when": "2024-05-01T12:00:00Z",
                                "tags": ["a"],
                                "shop": {"id": 7, "name": "Main"},
                            },
                        },
                        {
                            "correlationId": "b",
                            "sourceEventTime": 1714564800123,
                            "typeId": 4390,
                            "createdAt": 1714564900000,
                            "data": {},
                        },
                    ]
                }
            },
            "p2": {
                EUROPE: {
                    "events": [
                        {
                            "correlationId": "c",
                            "sourceEventTime": 0,
                            "typeId": "4381",
                            "createdAt": 1714564801000,
                            "data": {
                                "url": "https://y",
                                "price": 5,
                                "n": "3",
                                "shop": {"id": 8},
                                "extra": None,
                            },
                        },
                    ]
                }
            },
        }
    )
    summary = apsis_export.convert(write_export(doc), tmp_path, split_events=True, tables=["events"])
    assert set(summary.outputs) == {"events_4381", "events_4390"}
    clicks = pq.read_table(tmp_path / "events_4381.parquet")
    assert {f.name: str(f.type) for f in clicks.schema if f.name.startswith("data.")} == {
        "data.url": "string",
        "data.price": "decimal128(38, 1)",
        "data.n": "string",  # 3 and "3": text
        "data.when": "timestamp[ms, tz=UTC]",
        "data.tags": "string",
        "data.shop.id": "int64",
        "data.shop.name": "string",
        "data.extra": "string",
    }
    rows = clicks.to_pylist()
    assert [
        (
            r["profile_key"],
            r["correlation_id"],
            r["data.price"],
            r["data.n"],
            r["data.shop.id"],
            r["data.tags"],
        )
        for r in rows
    ] == [("p1", "a", Decimal("19.9"), "3", 7, '["a"]'), ("p2", "c", Decimal("5.0"), "3", 8, None)]
    assert (
        rows[0]["data.when"] == datetime(2024, 5, 1, 12, tzinfo=UTC) and rows[0]["source_event_time"] is None
    )
    other = pq.read_table(tmp_path / "events_4390.parquet")
    assert other.num_rows == 1 and not [n for n in other.schema.names if n.startswith("data")]


def test_split_events_agree_with_the_long_events_table(tmp_path, export):
    summary = apsis_export.convert(
        export.path, tmp_path, split_events=True, format="jsonl", tables=["events"]
    )
    assert sum(summary.rows.values()) == export.events
    events = [e for e in apsis_export.read(export.path) if isinstance(e, apsis_export.Event)]
    by_type = {}
    for e in events:
        by_type.setdefault(e.type_id, []).append(e)
    for type_id, expected in by_type.items():
        lines = [
            json.loads(line, parse_float=Decimal)
            for line in open(tmp_path / f"events_{type_id}.jsonl", encoding="utf-8")
        ]
        assert [
            (r["correlation_id"], r["data.url"], r["data.campaign"], r["data.subject"]) for r in lines
        ] == [(e.correlation_id, e.data["url"], e.data["campaign"], e.data["subject"]) for e in expected]


def test_named_split_tables_use_the_event_type_names(tmp_path, export):
    summary = apsis_export.convert(
        export.path, tmp_path, layout="wide", split_events=True, names=generated_metadata()
    )
    assert {"events_email_opened", "events_link_clicked", "events_form_submitted", "events_purchase"} <= set(
        summary.outputs
    )
    table = pq.read_table(tmp_path / "events_link_clicked.parquet")
    assert {r["type_name"] for r in table.to_pylist()} == {"Link clicked"}


def test_an_attribute_without_a_column_fails_and_leaves_nothing(tmp_path, write_export):
    doc = wrapped({"anna": {EUROPE: {"attributes": {"10452": {"value": "a@x"}, "10453": {"value": True}}}}})
    with pytest.raises(
        InputError,
        match=r"attribute '10453' of section .* has no column in the wide layout "
        r"\(columns came from the metadata; save fresh metadata or convert "
        r"without --names\).*in profile 'anna'",
    ):
        apsis_export.convert(write_export(doc), tmp_path / "out", layout="wide", names=sample_metadata())
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_a_first_pass_adds_the_attributes_the_metadata_lacks(tmp_path, write_export):
    # Split events need a first pass anyway: it finds what the metadata does not define.
    doc = wrapped(
        {
            "anna": {
                EUROPE: {
                    "attributes": {
                        "10452": {"value": "a@x"},
                        "10454": {"value": 42},
                        "10453": {"value": True},
                        "10457": {"value": "2024-05-01"},
                        "com.apsis1.tags.vip": {"value": None},
                    }
                }
            }
        }
    )
    apsis_export.convert(
        write_export(doc), tmp_path, layout="wide", split_events=True, names=sample_metadata()
    )
    table = pq.read_table(tmp_path / "profiles.parquet")
    assert table.schema.names == [
        "profile_key",
        "section_id",
        "section_name",
        "Email",
        "Age",
        "VIP",
        "10453",
        "10457",
    ]
    assert [str(f.type) for f in table.schema][3:] == ["string", "int64", "bool", "bool", "date32[day]"]
    assert table.to_pylist() == [
        {
            "profile_key": "anna",
            "section_id": EUROPE,
            "section_name": "Europe",
            "Email": "a@x",
            "Age": 42,
            "VIP": True,
            "10453": True,
            "10457": date(2024, 5, 1),
        }
    ]


def test_two_ids_of_one_definition_in_a_section_are_refused(tmp_path):
    # tiny.json keys Anna's email both by discriminator and by version ID: one column, two values.
    with pytest.raises(
        InputError,
        match=r"attributes 'com.apsis1.attributes.email' and '10452' of section "
        r"'usercreated.sections.europe-r6tz73a27t' both fill column 'Email'",
    ):
        apsis_export.convert(
            SAMPLE_DATA / "tiny.json", tmp_path, layout="wide", split_events=True, names=sample_metadata()
        )
    assert list(tmp_path.iterdir()) == []


def test_columns_from_an_export_request(tmp_path, write_export):
    doc = wrapped(
        {
            "anna": {
                EUROPE: {
                    "attributes": {"email": {"value": "a@x"}, "10452": {"value": 5}, "vip": {"value": None}}
                },
                "usercreated.sections.other": {},
            },
            "bob": {EUROPE: {"attributes": {"email": {"value": "b@x"}}}},
        }
    )
    schema = WideSchema.from_request(["email", "10452"], ["vip"])
    apsis_export.convert(write_export(doc), tmp_path, tables=["profiles"], schema=schema, format="jsonl")
    rows = [json.loads(line) for line in open(tmp_path / "profiles.jsonl", encoding="utf-8")]
    # Without metadata the request's columns are text; a tag is false where absent.
    assert [tuple(r.values()) for r in rows] == [
        ("anna", EUROPE, "a@x", "5", True),
        ("anna", "usercreated.sections.other", None, None, False),
        ("bob", EUROPE, "b@x", None, False),
    ]
    # With metadata, a requested ID is matched in any of its forms and named.
    named = WideSchema.from_request(["10452"], ["t-1"], metadata=sample_metadata())
    assert [(c.name, c.ids, c.kind, c.is_tag) for c in named.attributes] == [
        ("Email", ("10452", "com.apsis1.attributes.email"), "string", False),
        ("VIP", ("t-1", "com.apsis1.tags.vip"), "boolean", True),
    ]


def test_clashing_column_names_get_their_id(tmp_path):
    meta = apsis_export.Metadata(
        [
            {
                "discriminator": EUROPE,
                "name": "Europe",
                "attributes": [
                    {"discriminator": "a.one", "name": "Email", "type": "text"},
                    {"discriminator": "a.two", "name": "Email", "type": "text"},
                    {"discriminator": "a.three", "name": "section_id"},
                ],
            }
        ]
    )
    assert [c.name for c in WideSchema.from_metadata(meta).attributes] == [
        "Email_a.one",
        "Email_a.two",
        "section_id_a.three",
    ]


def test_strict_types_fail_in_the_wide_layout(tmp_path, export):
    with pytest.raises(
        InputError, match=r"value '\d+' for column 'number \d+' does not fit its type \(in profile 'p-\d+'\)"
    ):
        apsis_export.convert(
            export.path, tmp_path, layout="wide", names=generated_metadata(), strict_types=True
        )
    assert list(tmp_path.iterdir()) == []


def test_the_first_pass_needs_a_file():
    with (
        open(SAMPLE_DATA / "tiny.json", "rb") as fh,
        pytest.raises(apsis_export.OptionsError, match="first pass over a file"),
    ):
        apsis_export.convert(fh, "never", layout="wide")
