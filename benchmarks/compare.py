"""Two versions of the package side by side: wall time of ``apsis-export convert``, interleaved.

    python benchmarks/compare.py FILE --before OLD/src --after NEW/src [--formats parquet,jsonl]
                                 [--jobs 1,2] [--repeat 3]

Each round runs every (version, format, jobs) case once, in turn, so load from
other work on the machine falls on both versions alike; the table gives the
median wall time of each case, MB/s of JSON, and before ÷ after. Every run's
output files are hashed and must equal the before version's: a faster version
that writes different bytes is an error, not a result.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _digest(out: Path) -> dict[str, str]:
    """SHA-256 of each output file, by name."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.iterdir())}


def _run(src: str, path: str, fmt: str, jobs: int, out: Path) -> tuple[float, dict[str, str]]:
    """Wall seconds of one conversion with the package at ``src``, and its outputs' digests."""
    env = {**os.environ, "PYTHONPATH": src}
    cmd = [
        sys.executable,
        "-m",
        "apsis_export",
        "convert",
        path,
        "--out",
        str(out),
        "--to",
        fmt,
        "-j",
        str(jobs),
        "-q",
    ]
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True)
    seconds = time.perf_counter() - start
    digest = _digest(out)
    for p in out.iterdir():
        p.unlink()
    return seconds, digest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("--before", required=True, help="the old version's src directory")
    parser.add_argument("--after", required=True, help="the new version's src directory")
    parser.add_argument("--formats", default="parquet,jsonl")
    parser.add_argument("--jobs", default="1,2")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    size = Path(args.file).stat().st_size
    cases = [(fmt, int(j)) for fmt in args.formats.split(",") for j in args.jobs.split(",")]
    times: dict[tuple[str, str, int], list[float]] = {}
    reference: dict[tuple[str, int], dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for round_ in range(args.repeat):
            for fmt, jobs in cases:
                for version, src in (("before", args.before), ("after", args.after)):
                    seconds, digest = _run(src, args.file, fmt, jobs, out)
                    times.setdefault((version, fmt, jobs), []).append(seconds)
                    expected = reference.setdefault((fmt, jobs), digest)
                    if digest != expected:
                        sys.exit(f"{version} {fmt} -j {jobs}: output differs from the first run's")
                    print(f"round {round_ + 1}: {version:6} {fmt:7} -j {jobs}: {seconds:6.2f} s", flush=True)
    print(f"\n{args.file}: {size / 1e6:.0f} MB of JSON, medians of {args.repeat}\n")
    print("| format | jobs | before s | after s | before MB/s | after MB/s | speed-up |")
    print("|---|--:|--:|--:|--:|--:|--:|")
    for fmt, jobs in cases:
        before = statistics.median(times[("before", fmt, jobs)])
        after = statistics.median(times[("after", fmt, jobs)])
        print(
            f"| {fmt} | {jobs} | {before:.2f} | {after:.2f} | {size / before / 1e6:.1f} | {size / after / 1e6:.1f} "
            f"| {before / after:.2f}× |"
        )


if __name__ == "__main__":
    main()
