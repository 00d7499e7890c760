"""The Arrow stream and the dataset writer next to a plain conversion: wall time and peak RSS.

    python benchmarks/stream.py /tmp/g.json --repeat 3

Each job runs in a fresh child process (peak RSS from wait4's ru_maxrss; this harness never
imports pyarrow); the jobs are interleaved, so a noisy machine hurts them alike, and each
figure is the median of --repeat runs. Ratios are to ``convert`` to Parquet (all tables, or
the attributes table that the DuckDB jobs read), the median of each round's ratio.

| job | what it is |
|---|---|
| convert | ``apsis_export.convert(file, out)``: attributes and events to Parquet |
| convert-attributes | the same, the attributes table alone |
| duckdb-stream | ``duckdb.sql("select count(*), count(distinct profile_key) from t")``, ``t = to_arrow(file)`` |
| duckdb-limit | ``select * from t limit 5`` on the same stream |
| partitioned | ``convert(file, out, partition_by=["created_date", "type_id"])``: hive datasets |
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

JOBS = {
    "convert": "import apsis_export as a; a.convert(FILE, OUT)",
    "convert-attributes": "import apsis_export as a; a.convert(FILE, OUT, tables=['attributes'])",
    "duckdb-stream": (
        "import apsis_export as a, duckdb; t = a.to_arrow(FILE); "
        "print(duckdb.sql('select count(*), count(distinct profile_key) from t').fetchall())"
    ),
    "duckdb-limit": (
        "import apsis_export as a, duckdb; t = a.to_arrow(FILE); "
        "print(len(duckdb.sql('select * from t limit 5').fetchall()))"
    ),
    "partitioned": "import apsis_export as a; a.convert(FILE, OUT, partition_by=['created_date', 'type_id'])",
}


def run(job: str, path: str, work: str) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one job in a child process."""
    out = os.path.join(work, job)
    shutil.rmtree(out, ignore_errors=True)
    code = JOBS[job].replace("FILE", repr(path)).replace("OUT", repr(out))
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{job} failed (status {status})")
    shutil.rmtree(out, ignore_errors=True)
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", default=",".join(JOBS))
    args = parser.parse_args()
    jobs = args.jobs.split(",")
    results: dict[str, list[tuple[float, float]]] = {job: [] for job in jobs}
    with tempfile.TemporaryDirectory(prefix="apsis-stream-bench-") as work:
        for round_ in range(args.repeat):
            for job in jobs:
                results[job].append(run(job, args.file, work))
                print(
                    f"round {round_ + 1}: {job}: {results[job][-1][0]:.2f} s, {results[job][-1][1]:.0f} MB",
                    file=sys.stderr,
                )
    size = os.path.getsize(args.file) / 1e6
    bases = [b for b in ("convert", "convert-attributes") if b in results]
    print(
        f"{args.file}: {size:,.0f} MB, median of {args.repeat} interleaved runs; ratios: median of the rounds' ratios"
    )
    print("| job | seconds | MB/s | peak RSS MB | " + " | ".join(f"time / {b}" for b in bases) + " |")
    print("|---|---:|---:|---:|" + "---:|" * len(bases))
    for job, runs in results.items():
        seconds = statistics.median(s for s, _ in runs)
        rss = statistics.median(r for _, r in runs)
        ratios = [
            statistics.median(s / b for (s, _), (b, _) in zip(runs, results[base], strict=True))
            for base in bases
        ]
        print(
            f"| {job} | {seconds:.2f} | {size / seconds:.0f} | {rss:.0f} | "
            + " | ".join(f"{r:.2f}" for r in ratios)
            + " |"
        )


if __name__ == "__main__":
    main()
