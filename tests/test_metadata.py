"""Metadata: definitions from the API or a saved file, looked up by any ID; --names columns."""

from __future__ import annotations

import subprocess
import sys

import orjson
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import apsis_export
from apsis_export import Metadata, MetadataError
from apsis_export.cli import main

from .conftest import SAMPLE_DATA
from .fetch_server import FakeApsis, network_calls

EUROPE = "usercreated.sections.europe-r6tz73a27t"
SECTIONS = [{"id": 7, "discriminator": EUROPE, "name": "Europe"}]
DEFINITIONS = {
    (EUROPE, "attributes"): [
        {
            "discriminator": "com.apsis1.attributes.email",
            "name": "Email",
            "type": "TEXT",
            "versions": [{"id": 10452}],
        },
        {
            "discriminator": "usercreated.attributes.age",
            "name": "Age",
            "data_type": "number",
            "versions": [{"id": "10454"}, {"id": "10455"}],
        },
    ],
    (EUROPE, "tags"): [{"discriminator": "com.apsis1.tags.vip", "name": "VIP", "id": "t-1"}],
    (EUROPE, "events"): [
        {"discriminator": "com.apsis1.events.click", "name": "Link click", "versions": [{"id": "4381"}]}
    ],
}


def sample_metadata() -> Metadata:
    return Metadata(
        [
            {
                **s,
                **{
                    kind: DEFINITIONS.get((s["discriminator"], kind), [])
                    for kind in ("attributes", "tags", "events")
                },
            }
            for s in SECTIONS
        ]
    )


def test_lookups_by_every_id_form():
    meta = sample_metadata()
    assert meta.section(EUROPE).name == meta.section("7").name == "Europe"
    for attribute_id in ("com.apsis1.attributes.email", "10452"):
        found = meta.attribute(EUROPE, attribute_id)
        assert (found.kind, found.name, found.declared_type, found.section) == (
            "attribute",
            "Email",
            "text",
            EUROPE,
        )
    assert (
        meta.attribute("7", "10455").name == "Age" and meta.attribute("7", "10455").declared_type == "number"
    )
    assert meta.attribute(EUROPE, "t-1").kind == "tag"
    assert meta.event_type(EUROPE, "4381").name == "Link click"
    assert meta.attribute(EUROPE, "99999") is None and meta.section("nope") is None
    assert meta.counts == {"sections": 1, "attributes": 2, "tags": 1, "events": 1}


def test_an_id_two_sections_share_is_looked_up_within_the_section():
    meta = Metadata(
        [
            {"discriminator": "s1", "name": "One", "attributes": [{"name": "A1", "versions": [{"id": 1}]}]},
            {"discriminator": "s2", "name": "Two", "attributes": [{"name": "A2", "versions": [{"id": 1}]}]},
        ]
    )
    assert meta.attribute("s1", "1").name == "A1" and meta.attribute("s2", "1").name == "A2"
    assert meta.attribute("elsewhere", "1") is None  # ambiguous without the section: not guessed


def test_save_and_load_round_trip(tmp_path):
    path = sample_metadata().save(tmp_path / "meta.json")
    assert Metadata.load(path).raw == sample_metadata().raw
    assert not list(tmp_path.glob(".*.part"))


@pytest.mark.parametrize(
    "content, message", [(b"{not json", "not valid JSON"), (b'{"sections": []}', "not a metadata file")]
)
def test_bad_metadata_file(tmp_path, content, message):
    path = tmp_path / "meta.json"
    path.write_bytes(content)
    with pytest.raises(MetadataError, match=message):
        Metadata.load(path)


def test_convert_with_names_adds_typed_name_columns(tmp_path):
    summary = apsis_export.convert(SAMPLE_DATA / "tiny.json", tmp_path, names=sample_metadata())
    attributes = pq.read_table(tmp_path / "attributes.parquet")
    assert attributes.schema.names[5:] == [
        "section_name",
        "attribute_name",
        "is_tag",
        "declared_type",
        "value_boolean",
        "value_integer",
        "value_decimal",
        "value_date",
        "value_timestamp",
    ]
    assert [
        str(attributes.schema.field(n).type)
        for n in ("is_tag", "value_integer", "value_decimal", "value_date")
    ] == ["bool", "int64", "decimal128(38, 10)", "date32[day]"]
    rows = {r["attribute_id"]: r for r in attributes.to_pylist() if r["profile_key"] == "anna@example.com"}
    assert (rows["10452"]["attribute_name"], rows["10452"]["is_tag"], rows["10452"]["declared_type"]) == (
        "Email",
        False,
        "text",
    )
    assert (rows["com.apsis1.tags.vip"]["attribute_name"], rows["com.apsis1.tags.vip"]["is_tag"]) == (
        "VIP",
        True,
    )
    assert (rows["10459"]["attribute_name"], rows["10459"]["is_tag"], rows["10459"]["section_name"]) == (
        None,
        None,
        "Europe",
    )
    events = pq.read_table(tmp_path / "events.parquet").to_pylist()
    assert [(e["type_id"], e["type_name"]) for e in events] == [
        ("4381", "Link click"),
        ("4381", "Link click"),
        ("4390", None),
    ]
    # Unknown: 8 attribute IDs (10453, 10456-10462) and the event type 4390.
    assert summary.unknown_ids == 9 and "9 IDs not in the metadata" in str(summary)
    # Age is declared a number: 42 gets its int64 column; the 30-digit version does not fit
    # int64, stays null there (the text value is kept) and is counted.
    assert (rows["10454"]["value"], rows["10454"]["value_integer"]) == ("42", 42)
    assert (rows["10455"]["value_integer"], rows["10455"]["value"]) == (
        None,
        "123456789012345678901234567890",
    )
    assert rows["10452"]["value_integer"] is None and rows["10452"]["value"].startswith("Zoë")
    assert summary.type_mismatches == 1 and "1 values did not fit" in str(summary)


def test_strict_types_fail_on_a_value_that_does_not_fit(tmp_path):
    with pytest.raises(
        apsis_export.InputError,
        match=r"value '123456789012345678901234567890' of attribute '10455'.*"
        r"is not a number.*in profile 'anna@example.com'",
    ):
        apsis_export.convert(SAMPLE_DATA / "tiny.json", tmp_path, names=sample_metadata(), strict_types=True)
    assert list(tmp_path.iterdir()) == []


def test_names_in_csv_are_text(tmp_path):
    apsis_export.convert(
        SAMPLE_DATA / "tiny.json", tmp_path, format="csv", names=sample_metadata(), tables=["attributes"]
    )
    header, first = (tmp_path / "attributes.csv").read_text(encoding="utf-8").splitlines()[:2]
    assert header.endswith(
        ',"section_name","attribute_name","is_tag","declared_type","value_boolean","value_integer",'
        '"value_decimal","value_date","value_timestamp"'
    )
    assert first.endswith(',"Europe","Email",false,"text",,,,,')
    age = next(
        line
        for line in (tmp_path / "attributes.csv").read_text(encoding="utf-8").splitlines()
        if '"10454"' in line
    )
    assert age.endswith(',"Age",false,"number",,42,,,')


@pytest.fixture
def api():
    with FakeApsis() as server:
        server.sections = SECTIONS
        server.definitions = DEFINITIONS
        yield server


ENV = {"APSIS_CLIENT_ID": "cid", "APSIS_CLIENT_SECRET": "s3cret-value"}


def test_metadata_command_saves_what_the_api_defines(api, tmp_path):
    result = CliRunner().invoke(
        main, ["metadata", "--base-url", api.url, "--save", str(tmp_path / "meta.json")], env=ENV
    )
    assert result.exit_code == 0, result.output
    assert "1 sections, 2 attributes, 1 tags, 1 events" in result.output
    assert Metadata.load(tmp_path / "meta.json").raw == sample_metadata().raw
    assert "s3cret-value" not in result.output
    printed = CliRunner().invoke(main, ["metadata", "--base-url", api.url], env=ENV)
    assert printed.exit_code == 0 and '"format": "apsis-export metadata 1"' in printed.output


def test_metadata_command_refuses_plain_http_without_connecting(tmp_path):
    with network_calls() as calls:
        result = CliRunner().invoke(main, ["metadata", "--base-url", "http://192.0.2.1"], env=ENV)
    assert result.exit_code == 2 and calls == []
    assert result.stderr.startswith(
        "apsis-export: error: refusing plain HTTP for the API base URL http://192.0.2.1: "
    )
    assert "use https://" in result.stderr and "s3cret-value" not in result.output


def test_metadata_command_takes_the_secret_from_a_file_and_warns_on_the_command_line(api, tmp_path):
    (tmp_path / "secret").write_text("from-a-file\n")
    env = {"APSIS_CLIENT_ID": "cid", "APSIS_CLIENT_SECRET": None}
    result = CliRunner().invoke(
        main, ["metadata", "--base-url", api.url, "--client-secret-file", str(tmp_path / "secret")], env=env
    )
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr
    result = CliRunner().invoke(
        main, ["metadata", "--base-url", api.url, "--client-secret", "on-the-line"], env=env
    )
    assert result.exit_code == 0, result.output
    assert "visible to other users" in result.stderr and "on-the-line" not in result.output
    secrets = [orjson.loads(s.body)["client_secret"] for s in api.calls("POST", "/oauth/token")]
    assert secrets == ["from-a-file", "on-the-line"]


def test_convert_names_offline_from_the_saved_file(api, tmp_path):
    CliRunner().invoke(
        main, ["metadata", "--base-url", api.url, "--save", str(tmp_path / "meta.json")], env=ENV
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "apsis_export",
            "convert",
            str(SAMPLE_DATA / "tiny.json"),
            "--out",
            str(tmp_path / "out"),
            "--names",
            "--metadata",
            str(tmp_path / "meta.json"),
        ],
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "warning: 9 IDs not in the metadata" in result.stderr.decode()
    names = pq.read_table(tmp_path / "out" / "events.parquet", columns=["type_name"]).column(0).to_pylist()
    assert names == ["Link click", "Link click", None]


def test_fetch_names_from_the_api(api, tmp_path):
    result = CliRunner().invoke(
        main,
        [
            "fetch",
            "--base-url",
            api.url,
            "--attribute",
            "10452",
            "--poll-interval",
            "0.01",
            "--out",
            str(tmp_path),
            "--names",
            "--quiet",
        ],
        env=ENV,
    )
    assert result.exit_code == 0, result.output
    assert "section_name" in pq.read_schema(tmp_path / "attributes.parquet").names
    assert api.calls("GET", "/audience/sections")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--names"], "--names needs --metadata FILE"),
        (["--metadata", str(SAMPLE_DATA / "tiny.json")], "--metadata goes with --names"),
    ],
)
def test_names_usage_errors(tmp_path, args, message):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "apsis_export",
            "convert",
            str(SAMPLE_DATA / "tiny.json"),
            "--out",
            str(tmp_path),
            *args,
        ],
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 2 and message in result.stderr.decode()


def test_a_file_that_is_not_metadata_is_one_line_exit_1(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "apsis_export",
            "convert",
            str(SAMPLE_DATA / "tiny.json"),
            "--out",
            str(tmp_path / "o"),
            "--names",
            "--metadata",
            str(SAMPLE_DATA / "tiny.json"),
        ],
        capture_output=True,
        timeout=60,
    )
    assert (
        result.returncode == 1
        and "is not a metadata file" in result.stderr.decode()
        and b"Traceback" not in result.stderr
    )


def test_inspect_names_the_ids(tmp_path):
    data = apsis_export.inspect(SAMPLE_DATA / "tiny.json", names=sample_metadata()).to_dict()
    assert {s["section_id"]: s["name"] for s in data["sections"]} == {
        EUROPE: "Europe",
        "usercreated.sections.newsletter-h4h3dpu3qi": None,
    }
    vip = next(a for a in data["attributes"] if a["attribute_id"] == "com.apsis1.tags.vip")
    assert (vip["name"], vip["is_tag"]) == ("VIP", True)
    assert [e["name"] for e in data["events"]] == ["Link click", None]
    assert "name" not in apsis_export.inspect(SAMPLE_DATA / "tiny.json").to_dict()["sections"][0]
    path = sample_metadata().save(tmp_path / "meta.json")
    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "apsis_export",
            "inspect",
            str(SAMPLE_DATA / "tiny.json"),
            "--metadata",
            str(path),
        ],
        capture_output=True,
        timeout=60,
    )
    assert shown.returncode == 0 and "Link click" in shown.stdout.decode() and "VIP" in shown.stdout.decode()
