"""How much slower `inspect` is than reading the profiles alone (the parser), on one file.

    python benchmarks/inspect_speed.py FILE [--runs 5]

Runs the three interleaved, --runs times, and prints the medians and their
ratios to the parser's time (one process; ratios from one run are what to trust
on a shared machine).
"""

from __future__ import annotations

import argparse
import statistics
import time

import apsis_export


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    jobs = {
        "read_profiles": lambda: sum(1 for _ in apsis_export.read_profiles(args.file)),
        "inspect": lambda: apsis_export.inspect(args.file),
        "inspect --event-fields": lambda: apsis_export.inspect(args.file, event_fields=True),
    }
    seconds: dict[str, list[float]] = {name: [] for name in jobs}
    for _ in range(args.runs):
        for name, job in jobs.items():
            start = time.perf_counter()
            job()
            seconds[name].append(time.perf_counter() - start)
    base = statistics.median(seconds["read_profiles"])
    for name, times in seconds.items():
        median = statistics.median(times)
        print(f"{name:24} {median:7.2f} s  {median / base:5.2f}x the parser's time")


if __name__ == "__main__":
    main()
