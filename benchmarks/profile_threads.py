"""Where the time of one conversion goes, thread by thread: ``perf record`` samples the whole
process (every thread, C and Python alike), and this groups the samples by thread and by
what ran: our compiled step, the Python interpreter, Arrow, Parquet and zstd, libc, the kernel.

The main thread reads, scans and parses; the writer threads (one per table) encode and
compress. A conversion takes as long as the busier of them (plus start-up), so the table
says which one bounds it and what it spends its time on.

    python benchmarks/profile_threads.py /tmp/g1.json [--frequency 999] [-- convert options]

Needs Linux ``perf`` (``perf_event_paranoid`` low enough, or root). CPU seconds are samples
divided by the frequency: approximate, but all threads are counted alike.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
from pathlib import Path

#: What a sample's shared object is, by the first match in its name.
GROUPS = (
    ("_native", "compiled step (_native.c)"),
    ("libpython", "Python interpreter"),
    ("libparquet", "Parquet encoding"),
    ("libarrow", "Arrow (zstd, memory)"),
    ("libc.so", "libc (memcpy, malloc)"),
    ("kernel", "kernel (read, page faults)"),
    ("isal", "gzip inflating (isal)"),
    ("libz", "gzip inflating (zlib)"),
    ("openblas", "numpy's BLAS threads"),
)


def group(dso: str) -> str:
    return next((name for key, name in GROUPS if key in dso), "other")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("input", type=Path)
    parser.add_argument("--frequency", type=int, default=999, help="samples per second and thread")
    parser.add_argument("--top", type=int, default=12, help="symbols listed for the busiest thread")
    parser.add_argument("convert_options", nargs="*", help="after --: options for apsis-export convert")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        data, out = Path(work) / "perf.data", Path(work) / "out"
        command = [sys.executable, "-m", "apsis_export", "convert", str(args.input), "--out", str(out), "-q"]
        subprocess.run(
            [
                "perf",
                "record",
                "-q",
                "-o",
                str(data),
                "-F",
                str(args.frequency),
                "--",
                *command,
                *args.convert_options,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        script = subprocess.run(
            ["perf", "script", "-i", str(data), "-F", "tid,ip,sym,dso"],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "LC_ALL": "C"},
        ).stdout
    by_thread: collections.Counter[str] = collections.Counter()
    by_group: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    by_symbol: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for line in script.splitlines():
        parts = line.split(None, 2)  # tid, ip, "symbol (dso)"
        if len(parts) < 3:
            continue
        tid, rest = parts[0], parts[2]
        symbol, _, dso = rest.rpartition("(")
        by_thread[tid] += 1
        by_group[tid][group(dso)] += 1
        by_symbol[tid][symbol.strip().rsplit("+", 1)[0] or "?"] += 1
    if not by_thread:
        sys.exit("perf recorded no samples")
    main_tid = min(by_thread, key=int)  # the process's first thread
    seconds = {tid: count / args.frequency for tid, count in by_thread.items()}
    print(f"{args.input} ({args.input.stat().st_size / 1e9:.2f} GB): CPU seconds per thread (perf samples)")
    print()
    print("| thread | CPU s | " + " | ".join(name for _, name in GROUPS) + " | other |")
    print("|---|--:|" + "--:|" * (len(GROUPS) + 1))
    for tid, count in by_thread.most_common():
        if count < args.frequency // 20:
            continue  # threads under 0.05 s
        name = "main (read, scan, parse)" if tid == main_tid else f"{tid} (writer, or read-ahead)"
        cells = [f"{by_group[tid][n] / args.frequency:.2f}" for _, n in GROUPS]
        cells.append(f"{by_group[tid]['other'] / args.frequency:.2f}")
        print(f"| {name} | {seconds[tid]:.2f} | " + " | ".join(cells) + " |")
    print(f"| all | {sum(seconds.values()):.2f} |" + " |" * (len(GROUPS) + 1))
    busiest = max(by_thread, key=by_thread.__getitem__)
    print()
    print(f"Busiest thread ({'main' if busiest == main_tid else busiest}): its top symbols, CPU s")
    for symbol, count in by_symbol[busiest].most_common(args.top):
        print(f"  {count / args.frequency:6.2f}  {symbol[:100]}")


if __name__ == "__main__":
    main()
