"""Cost tests: no input may make a profile cost more than linear time in its bytes, or memory
beyond a bounded batch plus one profile (issue 11).

Each case converts the same crafted shape at N and at 4N (inputs from
benchmarks/hostile/inputs.py, which the reproducers there measure at full size) and asserts
on ratios, never on wall-clock thresholds: the process CPU time (all threads, median of three)
at 4N stays below 10x the time at N, where linear work gives about 4x and a check that turns
quadratic gives about 16x (the sizes are chosen so that a quadratic term dominates: on the
code before issue 11's fixes, sections gave 15.9x and colliding IDs 14.7x). Memory is
asserted the same way: Python's allocations (tracemalloc; nesting took 4x at 4N before) or
rows per batch and bytes per row group at 4N against N.

Every case runs in both modes, the compiled step and pure Python (what APSIS_EXPORT_PURE=1
gives), and its result (rows, or the error and its byte) is checked for parquet, csv and
jsonl; the cost ratios are measured on parquet.
"""

from __future__ import annotations

import gc
import io
import statistics
import sys
import time
import tracemalloc
from functools import cache
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import apsis_export
from apsis_export import InputError, _pipeline
from apsis_export._engines import _compiled, _members
from apsis_export.sinks import _jsonl, _parquet

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks" / "hostile"))
import inputs

FORMATS = ["parquet", "csv", "jsonl"]
#: Linear work makes 4N cost about 4x N; quadratic, about 16x.
MAX_RATIO = 10


@pytest.fixture(params=["compiled", "pure"])
def mode(request):
    """The compiled step on (whatever APSIS_EXPORT_PURE says), or switched off as
    APSIS_EXPORT_PURE=1 does."""
    compiled = request.param == "compiled"
    if compiled and _compiled._native is None:
        pytest.skip("the compiled step is not built (CI builds it)")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_compiled, "AVAILABLE", compiled)
        patch.setattr(_compiled, "scan", _compiled._native.scan if compiled else None)
        if not compiled:
            patch.setattr(_jsonl, "_join_lines", None)
        yield request.param


def written(write, *args) -> bytes:
    f = io.BytesIO()
    write(f, *args)
    return f.getvalue()


@cache
def colliding(n: int) -> list[bytes]:
    return inputs.colliding_ids(n)


#: name: (the input at size n, N, the rows it gives, refused by the compiled step).
CASES = {
    "sections": (lambda n: written(inputs.one_profile_sections, n), 20_000, lambda n: (0, 0), 0),
    "attribute IDs": (
        lambda n: written(inputs.one_section_attributes, inputs.ordinary_ids(n)),
        16_000,
        lambda n: (n, 0),
        0,
    ),
    "colliding IDs": (
        lambda n: written(inputs.one_section_attributes, colliding(n)),
        8_192,
        lambda n: (n, 0),
        0,
    ),
    "events": (lambda n: written(inputs.one_section_events, n), 5_000, lambda n: (0, n), 0),
    "keys in data": (lambda n: written(inputs.data_keys, n), 20_000, lambda n: (0, 1), 1),  # over 64: Python
    # An integer of n digits beside a lone surrogate: the exact engine reads it (int() of the
    # digits was quadratic: 1M digits took 13.8 s, 4M 220 s).
    "digits": (lambda n: written(inputs.long_integer, n), 250_000, lambda n: (2, 0), 1),  # the surrogate
}


def convert(data: bytes, tmp_path: Path, fmt: str) -> apsis_export.ConvertSummary:
    path = tmp_path / "in.json"
    path.write_bytes(data)
    return apsis_export.convert(path, tmp_path / "out", format=fmt)


def cpu_seconds(data: bytes, tmp_path: Path) -> float:
    """The median process CPU time (every thread) of three conversions to Parquet, with the
    cyclic gc off as the command has it: convert() leaves gc as it finds it, and in this test
    process a full collection walks every test's leftovers (one in the 4N run made 15x)."""
    times = []
    gc.collect()
    gc.disable()
    try:
        for _ in range(3):
            start = time.process_time()
            convert(data, tmp_path, "parquet")
            times.append(time.process_time() - start)
    finally:
        gc.enable()
    return statistics.median(times)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", CASES)
def test_crafted_shapes_convert_right(case, fmt, mode, tmp_path):
    make, n, rows, refused = CASES[case]
    summary = convert(make(n), tmp_path, fmt)
    assert (summary.rows["attributes"], summary.rows["events"]) == rows(n)
    assert summary.profiles == 1
    # The compiled step really read them (or refused what it must), so its cost is measured.
    assert sum(summary.refused.values()) == (refused if mode == "compiled" else 0)


@pytest.mark.parametrize("case", CASES)
def test_cost_grows_linearly(case, mode, tmp_path):
    make, n, _, _ = CASES[case]
    small, large = make(n), make(4 * n)
    cpu_seconds(small, tmp_path)  # warm: imports, caches
    ratio = cpu_seconds(large, tmp_path) / cpu_seconds(small, tmp_path)
    assert ratio < MAX_RATIO, f"{case}: 4N cost {ratio:.1f}x N"


# --- nesting: a clean error at the right byte, in the same memory at any depth --------------

#: The byte of the '[' that nests level 201 below the profile's value (the limit is 200): the
#: profile's value, sections, the section, attributes and the attribute are levels 1 to 5.
TOO_DEEP_AT = len(inputs.NESTED_HEAD) + 200 - 5


@pytest.mark.parametrize("fmt", FORMATS)
def test_deep_nesting_error_names_the_byte(fmt, mode, tmp_path):
    with pytest.raises(InputError) as caught:
        convert(written(inputs.nested_arrays, 100_000), tmp_path, fmt)
    assert caught.value.problem == "a value is nested deeper than 200 levels"
    assert caught.value.offset == TOO_DEEP_AT and caught.value.profile_key == "p"


def traced_peak(data: bytes, tmp_path: Path) -> tuple[int, float]:
    """Peak bytes Python allocated (tracemalloc) and CPU seconds of a failing conversion."""
    tracemalloc.start()
    start = time.process_time()
    try:
        with pytest.raises(InputError):
            convert(data, tmp_path, "parquet")
        return tracemalloc.get_traced_memory()[1], time.process_time() - start
    finally:
        tracemalloc.stop()


def test_deep_nesting_costs_the_same_at_any_depth(mode, tmp_path):
    n = 2_000_000
    traced_peak(inputs.NESTED_HEAD + b"[" * 1000, tmp_path)  # warm
    small_memory, small_cpu = traced_peak(written(inputs.nested_arrays, n), tmp_path)
    large_memory, large_cpu = traced_peak(written(inputs.nested_arrays, 4 * n), tmp_path)
    # One Python int per deep byte (the old way) made that 4x; the block read is the same.
    assert large_memory < 1.5 * small_memory + 1_000_000, (small_memory, large_memory)
    assert large_cpu < MAX_RATIO * small_cpu


# --- big values: batches and row groups bounded by bytes ----------------------------------------


def test_batches_and_row_groups_are_bounded_by_bytes(mode, tmp_path, monkeypatch):
    """Events with 2 KB of data each: the rows per batch handed to a sink, and the bytes per
    Parquet row group, stay the same at N and 4N MB (rows alone bounded them before: one batch
    held every event of these files)."""
    monkeypatch.setattr(_pipeline, "BATCH_BYTES", 1_000_000)
    monkeypatch.setattr(_parquet, "ROW_GROUP_BYTES", 1_000_000)
    batches: list[int] = []
    write = _parquet.ParquetSink.write

    def counted(self, records):
        if self.table.name == "events":
            batches.append(len(records))
        return write(self, records)

    monkeypatch.setattr(_parquet.ParquetSink, "write", counted)
    largest = []
    for size in (4_000_000, 16_000_000):
        batches.clear()
        summary = convert(written(inputs.big_data_events, size, 2_000), tmp_path, "parquet")
        groups = pq.ParquetFile(tmp_path / "out" / "events.parquet").metadata
        assert sum(batches) == summary.rows["events"] and len(batches) >= size // 2_000_000
        # A batch: rows that began 1 MB of input ago, plus the block read ahead of the profiles
        # (the input offset moves a block at a time) and twice the WRITE_EVERY profiles (20 KB
        # each) between two looks (rows are seen, and found old enough, at the looks).
        assert max(batches) <= (1_000_000 + _members.BLOCK_SIZE + 2 * _pipeline.WRITE_EVERY * 21_000) // 2_000
        largest.append(max(groups.row_group(i).total_byte_size for i in range(groups.num_row_groups)))
    assert largest[1] < 1.5 * largest[0], largest
