"""inspect --html: the timeline's counts, the page's escaping, and the page in a real browser.

The browser tests open the report from disk in headless Chromium (Debian's ``chromium``,
which .ci/run installs) through Playwright, read the rendered DOM and compare it with
``inspect --json``, watch every request the page makes, and keep screenshots under the
test's temporary folder. Without Chromium they skip on a developer's machine and fail in CI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import apsis_export
from apsis_export._inspect import EventCounts, InspectReport, Timeline

from .conftest import SAMPLE_DATA, wrapped

DAY = 86_400_000
T0 = 1_714_521_600_000  # 2024-05-01T00:00:00Z
HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "apsis_export", *args], capture_output=True, timeout=120)


def event(type_id: str, created: int | None, source: int | None = None, cid: str | None = None) -> dict:
    return {
        "correlationId": cid,
        "typeId": type_id,
        "createdAt": created,
        "sourceEventTime": source or 0,
        "data": {},
    }


def test_timeline_counts_per_type_and_day(write_export):
    doc = wrapped(
        {
            "a": {
                "s": {
                    "events": [
                        event("1", T0 + 5, T0 - DAY, "x"),
                        event("1", T0 + 7, None, "x"),
                        event("1", T0 + DAY),
                        event("2", None, T0 + 3 * DAY),
                    ]
                }
            },
            "b": {"s": {"events": [event("1", T0 + DAY - 1, T0 + DAY, "x"), event("1", T0 - 1, None, "x")]}},
        }
    )
    report = apsis_export.inspect(write_export(doc), timeline=True)
    line = report.to_dict()["timeline"]
    assert line["days_per_bucket"] == 1
    one, two = line["events"]
    assert one["created_at"] == [["2024-04-30", 1], ["2024-05-01", 3], ["2024-05-02", 1]]
    # Duplicates are counted within a profile, as in --json: b's first "x" is not one.
    assert one["duplicates"] == [["2024-04-30", 1], ["2024-05-01", 1]]
    assert one["source_event_time"] == [["2024-04-30", 1], ["2024-05-02", 1]]
    assert two == {
        "section_id": "s",
        "type_id": "2",
        "created_at": [],
        "duplicates": [],
        "source_event_time": [["2024-05-04", 1]],
    }
    assert report.events[("s", "1")].duplicates == 2
    # Without timeline=True nothing is counted and --json has no timeline.
    assert "timeline" not in apsis_export.inspect(write_export(doc)).to_dict()


def test_timeline_buckets_stay_bounded(write_export):
    """Times over 2,000 distinct days with room for 300 buckets: the buckets widen (merging
    neighbours, totals kept) instead of growing with the data."""
    events = [event(str(i % 3), T0 + i * DAY, T0 + i * DAY + 1, f"c{i % 1000}") for i in range(2000)]
    path = write_export(wrapped({f"p{k}": {"s": {"events": events[k::10]}} for k in range(10)}))
    daily = apsis_export.inspect(path, timeline=True)
    assert daily.timeline.days == 1
    # The same counting with a bound of 300 buckets, counted after every profile.
    bounded = InspectReport(source=str(path), timeline=Timeline(max_buckets=300))
    counts = EventCounts(bounded, batch=1)
    for profile in apsis_export.read_profiles(path):
        counts.add(profile.events)
    width = bounded.timeline.days

    def held(days: int) -> int:
        return sum(
            len({b // days for b in getattr(s, series)})
            for s in daily.events.values()
            for series in ("created_per_bucket", "duplicates_per_bucket", "source_per_bucket")
        )

    assert held(width) <= 300 < held(width // 2)  # as wide as needed, no wider
    for key, stats in bounded.events.items():
        day_stats = daily.events[key]
        assert stats.duplicates == day_stats.duplicates > 0
        for series in ("created_per_bucket", "duplicates_per_bucket", "source_per_bucket"):
            merged: dict[int, int] = {}
            for day, n in getattr(day_stats, series).items():
                merged[day // width] = merged.get(day // width, 0) + n
            assert getattr(stats, series) == merged
        assert sum(stats.created_per_bucket.values()) == stats.events


def hostile_export(write_export) -> Path:
    doc = wrapped(
        {
            HOSTILE: {
                HOSTILE: {
                    "attributes": {HOSTILE: {"value": HOSTILE}, "tag.1": {"value": None}},
                    "events": [event(HOSTILE, T0, T0, "d"), event(HOSTILE, T0 + 1, None, "d")],
                    HOSTILE: 1,
                }
            }
        }
    )
    doc[HOSTILE] = {"x": 1}
    return write_export(doc)


def test_every_string_from_the_export_is_escaped(write_export):
    page = apsis_export.inspect(hostile_export(write_export), timeline=True).to_html()
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in page
    # Scripts and requests are forbidden to the page anyway.
    assert "default-src 'none'" in page


def test_html_from_the_command_line(tmp_path, write_export):
    out = tmp_path / "r.html"
    result = cli("inspect", str(SAMPLE_DATA / "tiny.json"), "--html", str(out), "-q")
    assert result.returncode == 0, result.stderr
    assert f"HTML report: {out}" in result.stdout.decode()
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and 'data-metric="profiles">3<' in page
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]  # no temporary file left
    # A folder that does not exist: a usage error before reading anything.
    missing = cli("inspect", str(SAMPLE_DATA / "tiny.json"), "--html", str(tmp_path / "no" / "r.html"))
    assert missing.returncode == 2 and b"does not exist" in missing.stderr
    # Bad input: one line, exit 1, no report.
    bad = cli("inspect", str(write_export(b'{"profiles": {"p": [')), "--html", str(tmp_path / "bad.html"))
    assert bad.returncode == 1 and b"Traceback" not in bad.stderr and not (tmp_path / "bad.html").exists()
    # --json and --html together: the JSON on stdout has the timeline the page was drawn from.
    both = cli("inspect", str(SAMPLE_DATA / "tiny.json"), "--html", str(tmp_path / "b.html"), "--json", "-q")
    data = json.loads(both.stdout)
    assert data["timeline"]["events"][0]["duplicates"] == [["2024-05-01", 1]]


def test_a_large_export_gives_a_small_page(tmp_path):
    stats = apsis_export.generate(tmp_path / "g.json", size=3_000_000, seed=5, pool=6000)
    report = apsis_export.inspect(stats.path, timeline=True)
    page = report.to_html()
    assert len(report.attributes) > 1000
    assert page.count("<tr>") <= 1000 + 200 * 12 + 50  # capped tables
    assert f"Showing the first 1,000 of {len(report.attributes):,} rows" in page


# -- in a real browser ----------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _unavailable(message: str) -> None:
    """No browser here: a skip on a developer's machine, a failure in CI (no silent skips)."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        _unavailable(f"Chromium not found at {CHROMIUM} (Debian package 'chromium'; .ci/run installs it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


def open_page(browser, path: Path, **context):
    """Open a report from disk; returns the page and the list every request is added to."""
    page = browser.new_page(**context)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: errors.append(f"dialog {dialog.message}"))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, requests, errors


def number(text: str) -> int:
    return int(text.replace(",", "").strip())


def table(page, table_id: str) -> list[list[str]]:
    return page.eval_on_selector(
        f"#{table_id}", "t => [...t.tBodies[0].rows].map(r => [...r.cells].map(c => c.textContent))"
    )


def test_the_sample_report_in_chromium(browser, tmp_path):
    sample = SAMPLE_DATA / "small.json.gz"
    report_path = tmp_path / "report.html"
    made = cli("inspect", str(sample), "--html", str(report_path), "--json", "-q")
    assert made.returncode == 0, made.stderr
    data = json.loads(made.stdout)
    # The machine interface, run on its own, agrees with the page's numbers (seconds aside).
    alone = json.loads(cli("inspect", str(sample), "--json", "-q").stdout)
    assert {k: v for k, v in data.items() if k not in ("timeline", "seconds")} == {
        k: v for k, v in alone.items() if k != "seconds"
    }

    page, requests, errors = open_page(browser, report_path, viewport={"width": 1100, "height": 900})
    page.screenshot(path=str(tmp_path / "report-laptop.png"), full_page=True)
    assert requests == [report_path.as_uri()]  # the page itself, nothing else
    assert errors == []
    metrics = dict(
        page.eval_on_selector_all("[data-metric]", "ds => ds.map(d => [d.dataset.metric, d.textContent])")
    )
    for key in ("profiles", "empty_profiles", "attribute_rows", "event_rows", "unknown_key_rows"):
        assert number(metrics[key]) == data[key], key
    assert number(metrics["sections"]) == len(data["sections"])
    assert number(metrics["event_types"]) == len(data["events"])
    assert number(metrics["attributes"]) + number(metrics["tags"]) == len(data["attributes"])
    assert number(metrics["duplicates"]) == sum(e["duplicates"] for e in data["events"])
    assert float(metrics["seconds"]) == pytest.approx(data["seconds"], abs=0.01)
    header = page.text_content("header")
    assert (
        data["gzip"]
        and f"{data['bytes_file']:,} bytes), gzip of" in header
        and f"{data['bytes_json']:,} bytes" in header
    )

    assert {row[0]: number(row[1]) for row in table(page, "sections-table")} == {
        s["section_id"]: s["profiles"] for s in data["sections"]
    }
    assert {(r[0], r[1]): [number(c) for c in r[2:6]] + r[6:8] for r in table(page, "events-table")} == {
        (e["section_id"], e["type_id"]): [
            e["events"],
            e["profiles"],
            e["duplicates"],
            e["unknown_source_time"],
            e["created_at"]["first"],
            e["created_at"]["last"],
        ]
        for e in data["events"]
    }
    assert {(r[0], r[1]): (number(r[2]), r[4], r[5]) for r in table(page, "attributes-table")} == {
        (a["section_id"], a["attribute_id"]): (
            a["profiles"],
            ", ".join(f"{t} {n:,}" for t, n in a["value_types"].items()),
            a["type"] or "tag",
        )
        for a in data["attributes"]
    }
    assert table(page, "unknown-table") == [[k["key"], f"{k['count']:,}"] for k in data["unknown_keys"]]

    # The charts are drawn: one timeline row per event type (12 here), each with bars, and
    # its data table adds up to the type's events; coverage bars for each section.
    rows = page.eval_on_selector_all(
        ".row",
        "rs => rs.map(r => [r.querySelector('svg path.bar').getAttribute('d'), "
        "r.querySelector('svg').getBoundingClientRect().width, "
        "[...r.querySelectorAll('tbody tr')].map(t => t.cells[1].textContent)])",
    )
    assert len(rows) == len(data["events"]) == 12
    assert sum(sum(number(n) for n in counts) for _, _, counts in rows) == data["event_rows"]
    assert all(d.count("M") > 10 and width > 400 for d, width, _ in rows)
    coverage = page.eval_on_selector_all(
        "#h-coverage ~ * svg.bars, section:has(#h-coverage) svg.bars",
        "ss => ss.map(s => s.querySelectorAll('rect.bar').length)",
    )
    assert len(coverage) == 2 * len(data["sections"]) and all(coverage)

    # Every chart has a text alternative: role="img", labelled by a title and a description.
    alternatives = page.eval_on_selector_all(
        "svg",
        "ss => ss.map(s => [s.getAttribute('role'), ...s.getAttribute('aria-labelledby').split(' ')"
        ".map(id => document.getElementById(id).textContent)])",
    )
    assert alternatives and all(role == "img" and title and desc for role, title, desc in alternatives)

    # Phone: nothing wider than the screen except inside the tables' own scroll boxes.
    phone, _, _ = open_page(
        browser,
        report_path,
        viewport={"width": 375, "height": 740},
        device_scale_factor=2,
        color_scheme="dark",
    )
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375
    phone.screenshot(path=str(tmp_path / "report-phone-dark.png"))
    light, dark = (p.evaluate("getComputedStyle(document.body).backgroundColor") for p in (page, phone))
    assert light == "rgb(255, 255, 255)" and dark != light
    print(f"screenshots: {tmp_path}")


def test_a_hostile_export_in_chromium(browser, tmp_path, write_export):
    report = apsis_export.inspect(hostile_export(write_export), timeline=True)
    path = report.save_html(tmp_path / "hostile.html")
    page, requests, errors = open_page(browser, path, viewport={"width": 900, "height": 900})
    page.screenshot(path=str(tmp_path / "hostile.png"), full_page=True)
    assert errors == [] and requests == [path.as_uri()]  # no alert, no image request
    assert page.evaluate("document.scripts.length + document.images.length") == 0
    assert [r[:2] for r in table(page, "events-table")] == [[HOSTILE, HOSTILE]]
    assert table(page, "unknown-table")[0][0] in (
        f"/{HOSTILE}",
        f"/{HOSTILE.replace('~', '~0').replace('/', '~1')}",
    )
    # The duplicate is drawn, highlighted.
    assert page.eval_on_selector(".row svg path.dup", "p => p.getAttribute('d')").startswith("M")


def test_names_from_metadata(tmp_path):
    stats = apsis_export.generate(tmp_path / "g.json", size=200_000, seed=3)
    names = apsis_export.generated_metadata()
    page = apsis_export.inspect(stats.path, names=names, timeline=True).to_html()
    first = names.raw[0]
    section_name = first["name"]
    assert f"{section_name} (usercreated.sections." in page or f"{section_name} (com.apsis1." in page
    assert "Tags or always null" not in page and ">Tags <" in page  # the metadata tells tags apart
    assert '<th scope="col">name</th>' in page


def test_times_at_the_ends_of_the_calendar(write_export):
    """The first and last millisecond an export may hold, with buckets widened to fit."""
    first, last = -62_135_596_800_000, 253_402_300_799_999  # 0001-01-01, 9999-12-31T23:59:59.999
    events = [event("1", t, t, "c") for t in (first, last)] + [event("1", T0 + i * DAY) for i in range(500)]
    report = InspectReport(source="x", timeline=Timeline(max_buckets=100))
    counts = EventCounts(report, batch=1)
    for profile in apsis_export.read_profiles(write_export(wrapped({"p": {"s": {"events": events}}}))):
        counts.add(profile.events)
    created = report.to_dict()["timeline"]["events"][0]["created_at"]
    assert (
        created[0] == ["0001-01-01", 1]
        and created[-1][0] <= "9999-12-31"
        and sum(n for _, n in created) == 502
    )
    page = report.to_html()
    assert "from 0001-01-01 to 9999-12-31 (UTC)" in page


def test_more_event_types_than_buckets(write_export):
    """More series than the bound allows at any width (each type keeps a bucket, or two when
    its times fall both sides of 1970): the buckets widen as far as times go, then stop."""
    events = [event(str(i), T0 + i * DAY, -T0 - i * DAY) for i in range(40)]
    report = InspectReport(source="x", timeline=Timeline(max_buckets=10))
    counts = EventCounts(report, batch=1)
    for profile in apsis_export.read_profiles(write_export(wrapped({"p": {"s": {"events": events}}}))):
        counts.add(profile.events)
    counts.flush()
    assert 2**22 == report.timeline.days  # 11,483 years per bucket: wider than the calendar
    line = report.to_dict()["timeline"]["events"]
    assert [len(e["created_at"]) + len(e["source_event_time"]) for e in line] == [2] * 40
    assert sum(n for e in line for _, n in e["created_at"] + e["source_event_time"]) == 80
    assert "Events per " in report.to_html()


@pytest.mark.parametrize(
    "doc, says",
    [
        ({"profiles": {}}, "No events."),
        (wrapped({"a": {"s": {"events": [event("1", None)]}}}), "No event has a time."),
    ],
)
def test_pages_without_events_or_times(write_export, doc, says):
    page = apsis_export.inspect(write_export(doc), timeline=True).to_html()
    assert says in page and "No event has a created_at." in page and page.rstrip().endswith("</html>")
