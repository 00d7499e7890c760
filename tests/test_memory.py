"""Memory does not grow with the number of profiles (tracemalloc peaks, 10x the input)."""

from __future__ import annotations

import tracemalloc

import pytest

import apsis_export
from apsis_export import _inspect, _pipeline
from apsis_export._engines import _members
from apsis_export.sinks import _parquet


def peak_bytes(job) -> int:
    tracemalloc.start()
    try:
        job()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    """The fast engine reads 1 MiB blocks: shrink them so these small files span many."""
    monkeypatch.setattr(_members, "BLOCK_SIZE", 64 * 1024)


@pytest.mark.parametrize("engine", ["fast", "exact"])
def test_engine_memory_is_flat_with_ten_times_the_profiles(tmp_path, engine):
    small = apsis_export.generate(tmp_path / "small.json", size=400_000, seed=3)
    large = apsis_export.generate(tmp_path / "large.json", size=4_000_000, seed=3)
    assert large.profiles >= 5 * small.profiles  # about 10x, give or take the random profile sizes

    def drain(path):
        return lambda: sum(1 for _ in apsis_export.read_profiles(path, engine=engine))

    small_peak, large_peak = peak_bytes(drain(small.path)), peak_bytes(drain(large.path))
    # One profile at most is held: the peak may not grow with the file (1.5x leaves room for noise).
    assert large_peak < small_peak * 1.5, (small_peak, large_peak)


@pytest.mark.parametrize(
    "options,rows", [({}, 2000), ({"layout": "wide", "split_events": True}, 100)], ids=["long", "wide"]
)
def test_conversion_memory_is_flat_once_buffers_are_full(tmp_path, monkeypatch, options, rows):
    # Buffers are bounded by rows (batch and row group), so shrink them until a small file fills them
    # (the wide table has about 2 rows per profile where the attributes table has 40).
    monkeypatch.setattr(_parquet, "ROW_GROUP_ROWS", rows)
    monkeypatch.setattr(_pipeline, "BATCH_ROWS", rows // 4)
    monkeypatch.setattr(_inspect, "EVENT_BATCH", rows // 4)  # the wide layout's first pass counts events
    small = apsis_export.generate(tmp_path / "small.json", size=800_000, seed=5)
    large = apsis_export.generate(tmp_path / "large.json", size=8_000_000, seed=5)

    def convert(path, out):
        return lambda: apsis_export.convert(path, tmp_path / out, format="parquet", **options)

    small_peak, large_peak = peak_bytes(convert(small.path, "a")), peak_bytes(convert(large.path, "b"))
    # Ten times the profiles may not mean ten times the memory. The peak holds one profile beside the
    # bounded buffers, and the largest profile of ten times as many is larger: 1.0 -> 1.44-1.53 MB
    # here, on main before this session's changes too (1.15 -> 1.66), so 1.5x failed at random; a
    # peak that grew with the file would be near 10x.
    assert large_peak < small_peak * 2, (small_peak, large_peak)
