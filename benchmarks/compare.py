"""Two versions of the package side by side: ``apsis-export convert``, interleaved.

    python benchmarks/compare.py FILE [FILE...] --before OLD/src --after NEW/src
                                 [--formats parquet,jsonl] [--jobs 1,2] [--repeat 3] [--same tables]

Each round runs every (file, version, format, jobs) case once, in turn, so load from
other work on the machine falls on both versions alike; the table gives the median wall
time of each case, MB/s of JSON, the child's CPU seconds (user + system, all threads),
its peak RSS, and before ÷ after. Every run's output must equal the before version's: its
files byte for byte (``--same bytes``, the default), or, between versions whose writer
settings differ, the tables read back (``--same tables``: Parquet, CSV or JSONL files read
with pyarrow and compared with ``Table.equals``). A faster version that writes something
else is an error, not a result.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The parent never imports pyarrow nor reads a whole output: a child's ru_maxrss starts from
# its parent's memory (Linux carries the forked image's peak over exec), so the parent stays
# small for each child's peak to be its own.

#: Run in a child: exit 1 unless every table in sys.argv[1] equals the one in sys.argv[2].
SAME_TABLES = """
import pathlib, sys
import pyarrow.csv, pyarrow.json, pyarrow.parquet
read = {".parquet": pyarrow.parquet.read_table, ".csv": pyarrow.csv.read_csv, ".jsonl": pyarrow.json.read_json}
a, b = (pathlib.Path(d) for d in sys.argv[1:3])
names = sorted(p.name for p in a.iterdir())
if names != sorted(p.name for p in b.iterdir()):
    sys.exit(1)
for name in names:
    if not read[pathlib.Path(name).suffix](a / name).equals(read[pathlib.Path(name).suffix](b / name)):
        sys.exit(1)
"""


def _digest(out: Path) -> dict[str, str]:
    """SHA-256 of each output file, by name (read in steps)."""
    digests = {}
    for p in sorted(out.iterdir()):
        with p.open("rb") as f:
            digests[p.name] = hashlib.file_digest(f, "sha256").hexdigest()
    return digests


def _run(src: str, path: str, fmt: str, jobs: int, out: Path) -> tuple[float, float, int]:
    """Wall and CPU seconds and peak RSS (KB) of one conversion with the package at ``src``."""
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
    child = subprocess.Popen(cmd, env=env)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status):
        sys.exit(f"{' '.join(cmd)} failed (PYTHONPATH={src})")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def _same(out: Path, reference: Path, same: str) -> bool:
    """Whether the outputs in ``out`` equal those in ``reference`` (files or tables)."""
    if same == "bytes":
        return _digest(out) == _digest(reference)
    return (
        subprocess.run([sys.executable, "-c", SAME_TABLES, str(out), str(reference)], check=False).returncode
        == 0
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--before", required=True, help="the old version's src directory")
    parser.add_argument("--after", required=True, help="the new version's src directory")
    parser.add_argument("--formats", default="parquet,jsonl")
    parser.add_argument("--jobs", default="1,2")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--same", choices=("bytes", "tables"), default="bytes", help="what outputs must equal"
    )
    args = parser.parse_args()
    cases = [
        (path, fmt, int(j))
        for path in args.files
        for fmt in args.formats.split(",")
        for j in args.jobs.split(",")
    ]
    runs: dict[tuple[str, str, str, int], list[tuple[float, float, int]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        for round_ in range(args.repeat):
            for n, (path, fmt, jobs) in enumerate(cases):
                reference = Path(tmp) / f"reference-{n}"  # the first run's outputs of the case
                for version, src in (("before", args.before), ("after", args.after)):
                    seconds, cpu, rss = _run(src, path, fmt, jobs, out)
                    runs.setdefault((version, path, fmt, jobs), []).append((seconds, cpu, rss))
                    if not reference.exists():
                        out.rename(reference)
                    else:
                        if not _same(out, reference, args.same):
                            sys.exit(f"{version} {path} {fmt} -j {jobs}: output differs from the first run's")
                        shutil.rmtree(out)
                    print(
                        f"round {round_ + 1}: {version:6} {Path(path).name} {fmt:7} -j {jobs}: "
                        f"{seconds:6.2f} s, {cpu:6.2f} CPU s, {rss / 1024:5.0f} MB",
                        flush=True,
                    )
    print(f"\nmedians of {args.repeat} interleaved rounds; outputs equal ({args.same})\n")
    print(
        "| file | format | jobs | before s | after s | before MB/s | after MB/s | speed-up "
        "| before CPU s | after CPU s | before MB | after MB |"
    )
    print("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for path, fmt, jobs in cases:
        size = Path(path).stat().st_size if not path.endswith(".gz") else None
        before, after = runs[("before", path, fmt, jobs)], runs[("after", path, fmt, jobs)]
        b, a = (statistics.median(r[0] for r in before), statistics.median(r[0] for r in after))
        mbs = (f"{size / b / 1e6:.1f} | {size / a / 1e6:.1f}") if size else "– | –"
        print(
            f"| {Path(path).name} | {fmt} | {jobs} | {b:.2f} | {a:.2f} | {mbs} | {b / a:.2f}× "
            f"| {statistics.median(r[1] for r in before):.2f} | {statistics.median(r[1] for r in after):.2f} "
            f"| {max(r[2] for r in before) / 1024:.0f} | {max(r[2] for r in after) / 1024:.0f} |"
        )


if __name__ == "__main__":
    main()
