"""The installed command, end to end, as a user runs it (a real subprocess)."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

import apsis_export

from .conftest import SAMPLE_DATA


def run(*args, stdin: bytes | None = None):
    return subprocess.run(
        [sys.executable, "-m", "apsis_export", *map(str, args)], input=stdin, capture_output=True, timeout=120
    )


def test_convert_sample_to_parquet(tmp_path):
    result = run("convert", SAMPLE_DATA / "small.json.gz", "--to", "parquet", "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    counts = {t: pq.read_metadata(tmp_path / f"{t}.parquet").num_rows for t in ("attributes", "events")}
    records = list(apsis_export.read(SAMPLE_DATA / "small.json.gz"))
    assert counts == {
        "attributes": sum(isinstance(r, apsis_export.Attribute) for r in records),
        "events": sum(isinstance(r, apsis_export.Event) for r in records),
    }
    profiles = sum(1 for p in apsis_export.read_profiles(SAMPLE_DATA / "small.json.gz") if p.key is not None)
    summary = result.stderr.decode().splitlines()[0]
    assert summary.startswith(f"apsis-export: {profiles} profiles; ")
    assert (
        f"{counts['attributes']:,} attributes" in summary and "unknown keys" in summary and "MB/s" in summary
    )


@pytest.mark.slow
def test_stdin_gives_the_same_tables_as_a_path(tmp_path):
    data = (SAMPLE_DATA / "small.json.gz").read_bytes()
    assert run("convert", "-", "--to", "jsonl", "--out", tmp_path / "a", stdin=data).returncode == 0
    assert (
        run("convert", SAMPLE_DATA / "small.json", "--to", "jsonl", "--out", tmp_path / "b").returncode == 0
    )
    for table in ("attributes.jsonl", "events.jsonl", "extras.jsonl"):
        assert (tmp_path / "a" / table).read_bytes() == (tmp_path / "b" / table).read_bytes()


def test_quiet_prints_nothing(tmp_path):
    result = run("convert", SAMPLE_DATA / "tiny.json", "--out", tmp_path, "--quiet")
    assert result.returncode == 0 and result.stderr == b"" and result.stdout == b""


def test_tables_and_dedupe_options(tmp_path):
    result = run(
        "convert",
        SAMPLE_DATA / "tiny.json",
        "--to",
        "csv",
        "--out",
        tmp_path,
        "--tables",
        "events",
        "--dedupe-events",
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.csv"]
    assert len((tmp_path / "events.csv").read_bytes().splitlines()) == 1 + 2  # header + c-1 once + c-2
    assert "1 duplicate events dropped" in result.stderr.decode()


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "input is empty"),
        (b"[1, 2]", "the export must be a JSON object, found array"),
        (b'{"p": {"s": {"events": {}}}}', "'events' of section 's' must be a JSON array, found object"),
        (b'{"p": {"s": {"attributes": {"a": {"value": "\xff"}}}}}', "invalid bytes in UTF8 string"),
        (b'{"profiles": {"p": {"sections": {', "the document ends early"),
    ],
)
def test_bad_input_is_one_line_exit_1_and_no_output(tmp_path, content, message):
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    out = tmp_path / "out"
    result = run("convert", bad, "--out", out)
    stderr = result.stderr.decode()
    assert result.returncode == 1
    assert stderr.count("\n") == 1 and stderr.startswith("apsis-export: error: ") and message in stderr
    assert "Traceback" not in stderr
    assert list(out.iterdir()) == []


def test_error_names_offset_and_profile(tmp_path):
    data = (SAMPLE_DATA / "small.json").read_bytes()
    cut = tmp_path / "cut.json"
    cut.write_bytes(data[:100_000])
    stderr = run("convert", cut, "--out", tmp_path / "out").stderr.decode()
    assert re.search(r"near byte 100,000, in profile 'p-\d+'\)$", stderr.strip()), stderr


def test_debug_shows_the_traceback(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"[]")
    result = run("convert", bad, "--out", tmp_path / "out", "--debug")
    assert result.returncode == 1 and "Traceback" in result.stderr.decode()


@pytest.mark.parametrize(
    "args",
    [
        ["convert", "missing.json", "--out", "x"],
        ["convert", str(SAMPLE_DATA / "tiny.json")],
        ["convert", str(SAMPLE_DATA / "tiny.json"), "--out", "x", "--tables", "people"],
        ["convert", "-", "--out", "x", "--layout", "wide"],
        ["convert", str(SAMPLE_DATA / "tiny.json"), "--out", "x", "--to", "xlsx"],
        ["convert", str(SAMPLE_DATA / "tiny.json"), "--out", "x", "--input-layout", "sideways"],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_2(tmp_path, args):
    result = subprocess.run(
        [sys.executable, "-m", "apsis_export", *args], capture_output=True, cwd=tmp_path, timeout=60
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr.decode()
    assert not (tmp_path / "x").exists()


def test_generate_then_convert_agree_on_counts(tmp_path):
    result = run(
        "generate", tmp_path / "g.json.gz", "--size", "200KB", "--gzip", "--seed", "7", "--layout", "bare"
    )
    assert result.returncode == 0, result.stderr
    line = result.stderr.decode()
    out = run("convert", tmp_path / "g.json.gz", "--to", "jsonl", "--out", tmp_path / "out")
    assert out.returncode == 0, out.stderr
    attributes = len((tmp_path / "out" / "attributes.jsonl").read_bytes().splitlines())
    events = len((tmp_path / "out" / "events.jsonl").read_bytes().splitlines())
    assert f"{attributes:,} attributes" in line and f"{events:,} events" in line


def test_wide_named_layout_with_split_events_from_the_command_line(tmp_path):
    made = run(
        "generate",
        tmp_path / "g.json",
        "--size",
        "300KB",
        "--seed",
        "5",
        "--metadata",
        tmp_path / "meta.json",
        "--json",
    )
    assert made.returncode == 0, made.stderr
    stats = json.loads(made.stdout)
    result = run(
        "convert",
        tmp_path / "g.json",
        "--layout",
        "wide",
        "--split-events",
        "--names",
        "--metadata",
        tmp_path / "meta.json",
        "--to",
        "csv",
        "--out",
        tmp_path / "out",
    )
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == [
        "events_email_opened.csv",
        "events_form_submitted.csv",
        "events_link_clicked.csv",
        "events_purchase.csv",
        "extras.csv",
        "profiles.csv",
    ]
    with open(tmp_path / "out" / "profiles.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == stats["sections"]
    assert list(rows[0])[:5] == ["profile_key", "section_id", "section_name", "text 0", "boolean 0"]
    summary = result.stderr.decode()
    assert f"{stats['sections']:,} profile+section rows" in summary
    assert "values did not fit their column's type (left null)" in summary  # numbers beyond int64


def test_version():
    result = run("--version")
    assert result.returncode == 0 and apsis_export.__version__ in result.stdout.decode()


def test_progress_bar_on_a_terminal(tmp_path):
    import os
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "apsis_export",
            "convert",
            str(SAMPLE_DATA / "small.json"),
            "--out",
            str(tmp_path),
        ],
        stderr=slave,
        stdout=subprocess.DEVNULL,
    )
    os.close(slave)
    shown = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the terminal closes when the process ends
            break
        if not chunk:
            break
        shown += chunk
    assert proc.wait(timeout=60) == 0
    os.close(master)
    text = shown.decode()
    size = (SAMPLE_DATA / "small.json").stat().st_size
    profiles = sum(1 for p in apsis_export.read_profiles(SAMPLE_DATA / "small.json") if p.key is not None)
    assert (
        f"100% {size / 1e6:,.1f}/{size / 1e6:,.1f} MB" in text
        and "MB/s" in text
        and f"{profiles} profiles" in text
    )
    assert f"apsis-export: {profiles} profiles;" in text  # the summary follows the bar


def test_interrupt_leaves_nothing_and_exits_130(tmp_path):
    import signal
    import time

    apsis_export.generate(tmp_path / "big.json", size=20_000_000, seed=2)
    out = tmp_path / "out"
    # The input comes through a pipe, half of it: the conversion cannot end before the signal
    # (from a file it converted 20 MB in a tenth of a second, sometimes before the signal came).
    proc = subprocess.Popen(
        [sys.executable, "-m", "apsis_export", "convert", "-", "--out", str(out), "-q"],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # SIGINT as a terminal sends it: a shell's background job (CI runs two test runs at once)
        # starts with it ignored, and Python keeps an ignored SIGINT ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509  # no threads here
    )
    data = (tmp_path / "big.json").read_bytes()
    assert proc.stdin is not None
    proc.stdin.write(data[: len(data) // 2])
    proc.stdin.flush()
    deadline = time.monotonic() + 30
    while not any(out.rglob(".*.part")) and time.monotonic() < deadline:  # wait until it is writing
        time.sleep(0.05)
    assert any(out.rglob(".*.part")), "the conversion never started writing"
    proc.send_signal(signal.SIGINT)
    stderr = proc.communicate(timeout=60)[1].decode()
    assert proc.returncode == 130, stderr
    assert stderr.strip() == "apsis-export: error: interrupted; nothing was written"
    assert list(out.iterdir()) == []
