"""inspect: counts that agree with the generator and with the records."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import apsis_export
from apsis_export import Attribute, Event
from apsis_export._inspect import DAY_MS, EventCounts, InspectReport, Timeline

from .conftest import SAMPLE_DATA


def test_inspect_agrees_with_the_generator(tmp_path):
    stats = apsis_export.generate(tmp_path / "g.json.gz", size=500_000, seed=11, gzip=True)
    report = apsis_export.inspect(stats.path)
    assert (report.profiles, report.attribute_rows, report.event_rows) == (
        stats.profiles,
        stats.attributes,
        stats.events,
    )
    assert sum(report.sections.values()) == stats.sections
    tag_rows = sum(a.profiles for a in report.attributes.values() if a.attribute_id.startswith("tag."))
    assert tag_rows == stats.tags
    assert all(a.always_null for a in report.attributes.values() if a.attribute_id.startswith("tag."))
    assert dict(report.unknown_keys) == {"/metadata": 1}


def test_inspect_of_the_tiny_sample():
    report = apsis_export.inspect(SAMPLE_DATA / "tiny.json", event_fields=True)
    assert (report.profiles, report.empty_profiles) == (3, 1)
    assert dict(report.sections) == {
        "usercreated.sections.europe-r6tz73a27t": 2,
        "usercreated.sections.newsletter-h4h3dpu3qi": 1,
    }
    email = report.attributes[("usercreated.sections.europe-r6tz73a27t", "com.apsis1.attributes.email")]
    assert email.profiles == 2 and dict(email.value_types) == {"string": 2}
    clicks = report.events[("usercreated.sections.europe-r6tz73a27t", "4381")]
    assert (clicks.events, clicks.profiles, clicks.duplicates) == (2, 1, 1)
    assert (clicks.first_created_at, clicks.last_created_at) == (1714564800456, 1714564801999)
    opens = report.events[("usercreated.sections.europe-r6tz73a27t", "4390")]
    assert opens.unknown_source_time == 1 and opens.first_source_event_time is None
    assert dict(report.unknown_keys) == {"/attributes/10462/history": 1, "/topics": 1, "/metadata": 1}
    # The types the wide layout and split events would give, as --json shows them.
    data = report.to_dict()
    types = {a["attribute_id"]: a["type"] for a in data["attributes"]}
    assert types == {
        "com.apsis1.attributes.email": "string",
        "10452": "string",
        "10453": "boolean",
        "10454": "integer",
        "10455": "decimal(0)",
        "10456": "decimal(2)",
        "10457": "date",
        "10458": "timestamp",
        "10459": None,
        "com.apsis1.tags.vip": None,
        "10460": "string",
        "10461": "string",
        "10462": "string",
    }
    assert [e["fields"] for e in data["events"]] == [
        [
            {"field": "data.url", "type": "string"},
            {"field": "data.campaignId", "type": "integer"},
            {"field": "data.price", "type": "decimal(2)"},
        ],
        [],
    ]


def test_event_positions_are_generalised_in_unknown_keys(write_export):
    doc = {"p": {"s": {"events": [{"typeId": "1", "src": "a"}, {"typeId": "1", "src": "b"}]}}}
    assert dict(apsis_export.inspect(write_export(doc)).unknown_keys) == {"/events/*/src": 2}


def test_inspect_json_from_the_command_line():
    result = subprocess.run(
        [sys.executable, "-m", "apsis_export", "inspect", str(SAMPLE_DATA / "small.json.gz"), "--json"],
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    records = list(apsis_export.read(SAMPLE_DATA / "small.json.gz"))
    assert data["attribute_rows"] == sum(isinstance(r, Attribute) for r in records)
    assert data["event_rows"] == sum(isinstance(r, Event) for r in records)
    assert sum(e["events"] for e in data["events"]) == data["event_rows"]
    assert data["events_created"]["first"] <= data["events_created"]["last"]


def test_inspect_table_on_the_terminal_and_bad_input():
    result = subprocess.run(
        [sys.executable, "-m", "apsis_export", "inspect", str(SAMPLE_DATA / "tiny.json"), "--event-fields"],
        capture_output=True,
        timeout=60,
    )
    text = result.stdout.decode()
    assert result.returncode == 0 and "3 profiles (1 without attributes or events)" in text
    assert "com.apsis1.attributes.email" in text and "/topics" in text
    assert "decimal(2)" in text and "data.campaignId" in text
    bad = subprocess.run(
        [sys.executable, "-m", "apsis_export", "inspect", "-"], input=b"[]", capture_output=True, timeout=60
    )
    assert (
        bad.returncode == 1
        and "must be a JSON object" in bad.stderr.decode()
        and b"Traceback" not in bad.stderr
    )


def test_event_counts_in_batches_equal_counting_event_by_event():
    """EventCounts counts a batch at a time (here once 7 events or more are waiting, so
    batches are small and of every size): the same figures as following each event in turn. Duplicates repeat a correlation ID of
    the same section earlier in the same profile; missing IDs and times are common."""
    rng = random.Random(5)
    t0 = 1_714_521_600_000
    profiles = [
        [
            Event(
                f"p{p}",
                rng.choice("st"),
                rng.choice([None, None, "a", "b", str(rng.randrange(50))]),
                str(rng.randrange(6)),
                rng.choice([None, t0 - rng.randrange(10**12)]),
                rng.choice([None, t0 + rng.randrange(-40, 40) * DAY_MS + rng.randrange(DAY_MS)]),
                None,
            )
            for _ in range(rng.choice([0, 1, 3, 20]))
        ]
        for p in range(300)
    ]
    report = InspectReport(source="x", timeline=Timeline())
    counts = EventCounts(report, batch=7)
    for events in profiles:
        counts.add(events)
    counts.flush()

    expected: dict[tuple[str, str], dict] = {}
    for events in profiles:
        seen_ids, seen_types = set(), set()
        for e in events:
            x = expected.setdefault(
                (e.section_id, e.type_id),
                {
                    "events": 0,
                    "profiles": 0,
                    "duplicates": 0,
                    "unknown": 0,
                    "created": [],
                    "source": [],
                    "dup_days": {},
                },
            )
            x["events"] += 1
            x["profiles"] += (e.section_id, e.type_id) not in seen_types
            seen_types.add((e.section_id, e.type_id))
            if e.correlation_id is not None:
                if (e.section_id, e.correlation_id) in seen_ids:
                    x["duplicates"] += 1
                    if e.created_at is not None:
                        day = e.created_at // DAY_MS
                        x["dup_days"][day] = x["dup_days"].get(day, 0) + 1
                seen_ids.add((e.section_id, e.correlation_id))
            if e.created_at is not None:
                x["created"].append(e.created_at)
            if e.source_event_time is None:
                x["unknown"] += 1
            else:
                x["source"].append(e.source_event_time)
    assert list(report.events) == list(expected)  # in the order the types first occur
    for key, x in expected.items():
        stats = report.events[key]
        assert (stats.events, stats.profiles, stats.duplicates, stats.unknown_source_time) == (
            x["events"],
            x["profiles"],
            x["duplicates"],
            x["unknown"],
        )
        assert (stats.first_created_at, stats.last_created_at) == (
            min(x["created"], default=None),
            max(x["created"], default=None),
        )
        assert (stats.first_source_event_time, stats.last_source_event_time) == (
            min(x["source"], default=None),
            max(x["source"], default=None),
        )
        days = {}
        for t in x["created"]:
            days[t // DAY_MS] = days.get(t // DAY_MS, 0) + 1
        assert stats.created_per_bucket == days and stats.duplicates_per_bucket == x["dup_days"]
        assert sum(stats.source_per_bucket.values()) == len(x["source"])
    assert sum(s.duplicates for s in report.events.values()) > 20
