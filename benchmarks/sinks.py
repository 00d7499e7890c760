"""CPU seconds each sink needs for the same records, the engine left out.

    python benchmarks/sinks.py [--size 20MB] [--repeat 3]

Generates an export (seed 1), reads its records once into memory, then writes
them with every built-in sink, best of --repeat runs of process CPU time (less
disturbed than wall time by other work on the machine).
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from pathlib import Path

import apsis_export
from apsis_export.cli._common import parse_size
from apsis_export.sinks import get_sink


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="20MB")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stats = apsis_export.generate(Path(tmp) / "export.json", size=parse_size(args.size), seed=1)
        gc.disable()
        profiles = list(apsis_export.read_profiles(stats.path))
        tables = {
            "attributes": [a for p in profiles for a in p.attributes],
            "events": [e for p in profiles for e in p.events],
        }
        rows = sum(len(r) for r in tables.values())
        print(
            f"{args.size}: {rows:,} rows ({len(tables['attributes']):,} attributes, {len(tables['events']):,} events)"
        )
        for name in ("parquet", "csv", "jsonl"):
            best = float("inf")
            for _ in range(args.repeat):
                start = time.process_time()
                for table, records in tables.items():
                    sink = get_sink(name)(Path(tmp) / f"{table}.{name}", apsis_export.TABLES[table])
                    for i in range(0, len(records), 16 * 1024):
                        sink.write(records[i : i + 16 * 1024])
                    sink.close()
                best = min(best, time.process_time() - start)
            print(f"  {name:8} {best:6.2f} CPU s  {rows / best / 1e3:8,.0f} k rows/s")


if __name__ == "__main__":
    main()
