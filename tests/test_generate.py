"""The synthetic export generator: same seed same bytes, exact counts, knobs, flat memory."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import tracemalloc

import pytest

import apsis_export
from apsis_export._generate import _Draw

from .conftest import SAMPLE_DATA


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    a = apsis_export.generate(tmp_path / "a.json", size=200_000, seed=3)
    b = apsis_export.generate(tmp_path / "b.json", size=200_000, seed=3)
    apsis_export.generate(tmp_path / "c.json", size=200_000, seed=4)
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert (tmp_path / "a.json").read_bytes() != (tmp_path / "c.json").read_bytes()
    assert (a.profiles, a.attributes, a.events) == (b.profiles, b.attributes, b.events)
    assert a.bytes_json == len((tmp_path / "a.json").read_bytes())


def test_gzip_is_deterministic_and_holds_the_same_json(tmp_path):
    plain = apsis_export.generate(tmp_path / "p.json", size=100_000, seed=1)
    one = apsis_export.generate(tmp_path / "1.json.gz", size=100_000, seed=1, gzip=True)
    apsis_export.generate(tmp_path / "2.json.gz", size=100_000, seed=1, gzip=True)
    assert (tmp_path / "1.json.gz").read_bytes() == (tmp_path / "2.json.gz").read_bytes()
    assert gzip.decompress((tmp_path / "1.json.gz").read_bytes()) == (tmp_path / "p.json").read_bytes()
    assert one.bytes_json == plain.bytes_json


@pytest.mark.parametrize("name, gz", [("small.json", False), ("small.json.gz", True)])
def test_bundled_samples_are_reproducible(tmp_path, name, gz):
    # docs/development.md's commands: apsis-export generate sample_data/small.json --size 300KB --seed 42 [--gzip]
    apsis_export.generate(tmp_path / name, size=300_000, seed=42, gzip=gz)
    assert (tmp_path / name).read_bytes() == (SAMPLE_DATA / name).read_bytes()


def test_draws_do_not_depend_on_the_python_version():
    # Pinned: CPython 3.11's randint/random/sample/choice for seed 42, reproduced on getrandbits.
    draw = _Draw(42)
    assert [draw.randint(5, 40) for _ in range(5)] == [12, 6, 22, 20, 19]
    assert draw.random() == 0.1395379285251439
    assert draw.sample(range(3), 2) == [0, 2]
    assert draw.choice("abcd") == "d"


@pytest.mark.parametrize("layout", ["wrapped", "bare"])
@pytest.mark.parametrize("gz", [False, True])
def test_conversion_gives_exactly_the_counts_reported(tmp_path, layout, gz):
    path = tmp_path / ("g.json.gz" if gz else "g.json")
    stats = apsis_export.generate(path, size=150_000, seed=11, layout=layout, gzip=gz)
    summary = apsis_export.convert(path, tmp_path / "out", format="jsonl")
    assert summary.profiles == stats.profiles
    assert summary.rows["attributes"] == stats.attributes
    assert summary.rows["events"] == stats.events
    assert summary.extras == stats.extras == (1 if layout == "wrapped" else 0)
    assert summary.bytes_json == stats.bytes_json
    tags = [
        r
        for r in apsis_export.read(path)
        if isinstance(r, apsis_export.Attribute) and r.attribute_id.startswith("tag.")
    ]
    assert len(tags) == stats.tags and all(t.value is None for t in tags)


def test_document_is_valid_json_with_the_documented_shape(tmp_path):
    stats = apsis_export.generate(tmp_path / "g.json", size=300_000, seed=5)
    doc = json.loads((tmp_path / "g.json").read_bytes())
    assert set(doc) == {"profiles", "metadata"}
    profiles = doc["profiles"]
    assert len(profiles) == stats.profiles
    sections = [s for p in profiles.values() for s in p["sections"].values()]
    assert len(sections) == stats.sections
    assert all(1 <= len(p["sections"]) <= 3 for p in profiles.values())
    assert all(len(s["attributes"]) <= 40 for s in sections)
    assert all(len(s.get("events", [])) <= 50 for s in sections)
    assert sum(len(s["attributes"]) for s in sections) == stats.attributes
    assert sum(len(s.get("events", [])) for s in sections) == stats.events
    text = (tmp_path / "g.json").read_text("utf-8")
    assert "Ångström" in text and "🎉" in text and "\\u0001" in text and '\\"' in text and "\\n" in text


def test_knobs_shape_the_output(tmp_path):
    stats = apsis_export.generate(
        tmp_path / "g.json",
        size=100_000,
        seed=2,
        layout="bare",
        sections=(4, 4),
        attributes=(2, 2),
        events=(3, 3),
        tag_ratio=0.0,
        pool=5,
    )
    doc = json.loads((tmp_path / "g.json").read_bytes())
    assert all(len(sections) == 4 for sections in doc.values())
    sections = [s for p in doc.values() for s in p.values()]
    assert all(len(s["events"]) == 3 for s in sections)
    assert all(1 <= len(s["attributes"]) <= 2 for s in sections)
    assert stats.tags == 0 and stats.events == 3 * stats.sections == 12 * stats.profiles
    assert len({json.dumps(s, sort_keys=True) for s in sections}) <= 5  # the pool


@pytest.mark.parametrize(
    "kwargs",
    [dict(sections=(3, 1)), dict(events=(-1, 2)), dict(tag_ratio=1.5), dict(pool=0), dict(layout="flat")],
)
def test_bad_knobs_are_refused(tmp_path, kwargs):
    with pytest.raises(ValueError):
        apsis_export.generate(tmp_path / "g.json", size=1000, **kwargs)


def test_at_least_one_profile(tmp_path):
    stats = apsis_export.generate(tmp_path / "g.json", size=1, seed=0)
    assert stats.profiles == 1
    assert json.loads((tmp_path / "g.json").read_bytes())["profiles"]


def test_memory_does_not_grow_with_size(tmp_path):
    def peak(size):
        tracemalloc.start()
        try:
            apsis_export.generate(tmp_path / "m.json", size=size, seed=0, pool=64)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(10_000_000), peak(40_000_000)  # both beyond one 4 MiB block
    assert large < small * 1.2, (small, large)


def test_cli_knobs_and_json_counts(tmp_path):
    out = tmp_path / "g.json.gz"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "apsis_export",
            "generate",
            str(out),
            "--size",
            "120KB",
            "--gzip",
            "--seed",
            "9",
            "--layout",
            "bare",
            "--sections",
            "2",
            "--attributes",
            "5-10",
            "--events",
            "0-3",
            "--tag-ratio",
            "0.5",
            "--json",
        ],
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    counts = json.loads(result.stdout)
    assert counts["sections"] == 2 * counts["profiles"] and counts["extras"] == 0
    summary = apsis_export.convert(out, tmp_path / "out", format="csv")
    assert (summary.profiles, summary.rows["attributes"], summary.rows["events"]) == (
        counts["profiles"],
        counts["attributes"],
        counts["events"],
    )


@pytest.mark.parametrize("value", ["3-1", "x", "1-", "-2"])
def test_cli_refuses_bad_ranges(tmp_path, value):
    result = subprocess.run(
        [sys.executable, "-m", "apsis_export", "generate", str(tmp_path / "g.json"), "--events", value],
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 2 and b"--events" in result.stderr
    assert not (tmp_path / "g.json").exists()
