"""How much slower `inspect` is than reading the profiles alone (the parser), on one file,
and what `inspect --html` adds (the timeline and the page).

    python benchmarks/inspect_speed.py FILE [--runs 5]

Runs the jobs interleaved, --runs times, and prints the medians of wall and CPU time and
their ratios to the parser's (one process; ratios and differences from one run are what
to trust on a shared machine).
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
        "inspect --html": lambda: apsis_export.inspect(args.file, timeline=True).to_html(),
    }
    seconds: dict[str, list[float]] = {name: [] for name in jobs}
    cpu: dict[str, list[float]] = {name: [] for name in jobs}
    for _ in range(args.runs):
        for name, job in jobs.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            job()
            seconds[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    base, base_cpu = statistics.median(seconds["read_profiles"]), statistics.median(cpu["read_profiles"])
    for name in jobs:
        median, median_cpu = statistics.median(seconds[name]), statistics.median(cpu[name])
        print(
            f"{name:24} {median:7.2f} s  {median / base:5.2f}x the parser's time;"
            f" CPU {median_cpu:7.2f} s  {median_cpu / base_cpu:5.2f}x"
        )
    html = statistics.median(b - a for a, b in zip(cpu["inspect"], cpu["inspect --html"], strict=True))
    print(f"inspect --html - inspect: {html:+.2f} s CPU (median of the runs' differences)")


if __name__ == "__main__":
    main()
