"""convert_many on a folder of generated exports, --jobs 1 and 2, beside converting the largest alone.

    python benchmarks/many.py --files 8 --size 50MB --repeat 3

Generates the exports once (``apsis-export generate DIR/day-N.json --size SIZE --seed N``, cached
in --data-dir), then per round runs, interleaved (a noisy machine hurts them alike), each in a
fresh process: ``convert_many('DIR/day-*.json', OUT, jobs=1)``, the same with ``jobs=2``, and
``convert(LARGEST, OUT)``. Per run: the library's seconds (ManySummary.seconds, with the worker
pool's start; ConvertSummary.seconds), CPU seconds (the workers' for convert_many), the peak RSS
(the largest worker's), and the whole process's wall time (Python's start and imports, ~0.5 s,
weigh on one 50 MB file). Figures are medians over rounds, ratios the median of each round's
ratio. "ideal" is the time the issue expects: the largest file's time alone x files / cores.
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
from pathlib import Path

CLI = [sys.executable, "-m", "apsis_export"]
#: Each run in a fresh process: the library call, then "seconds CPU-seconds peak-RSS-MB" on stdout.
MANY = (
    "import apsis_export as a\n"
    "s = a.convert_many(PATTERN, OUT, jobs=JOBS)\n"
    "print(s.seconds, sum(i.cpu_seconds for i in s.inputs), max(i.peak_rss for i in s.inputs) / 2**20,"
    " [round(i.peak_rss / 2**20) for i in s.inputs])"
)
ALONE = (
    "import apsis_export as a, resource\n"
    "def cpu():\n    r = resource.getrusage(resource.RUSAGE_SELF); return r.ru_utime + r.ru_stime\n"
    "before = cpu(); s = a.convert(PATTERN, OUT)\n"
    "print(s.seconds, cpu() - before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
)


def run(code: str, source: str, out: str, jobs: int = 1) -> tuple[float, float, float, float]:
    """Wall seconds of the process, and the library's seconds, CPU seconds (workers' too) and peak
    RSS in MB (the largest worker's), of one run in a child process."""
    shutil.rmtree(out, ignore_errors=True)
    code = code.replace("PATTERN", repr(source)).replace("OUT", repr(out)).replace("JOBS", str(jobs))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"run failed: {done.stderr}")
    shutil.rmtree(out, ignore_errors=True)
    seconds, cpu, rss = map(float, done.stdout.split()[:3])
    return wall, seconds, cpu, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--size", default="50MB", help="JSON size of each export")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/apsis-bench-many"))
    args = parser.parse_args()

    folder = args.data_dir / args.size
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for seed in range(1, args.files + 1):
        path = folder / f"day-{seed}.json"
        if not path.exists():
            subprocess.run(
                [*CLI, "generate", str(path), "--size", args.size, "--seed", str(seed)],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        files.append(path)
    largest = max(files, key=lambda p: p.stat().st_size)
    total = sum(p.stat().st_size for p in files)
    pattern = str(folder / "day-*.json")
    runs = {
        "many --jobs 1": (MANY, pattern, 1),
        "many --jobs 2": (MANY, pattern, 2),
        "largest alone": (ALONE, str(largest), 1),
    }
    results: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name in runs}
    cores = os.cpu_count() or 1
    print(
        f"{len(files)} exports, {total / 1e6:,.0f} MB together; largest {largest.name} "
        f"{largest.stat().st_size / 1e6:,.1f} MB; {cores} cores"
    )
    with tempfile.TemporaryDirectory(prefix="apsis-many-") as work:
        for round_ in range(args.repeat):
            for name, (code, source, jobs) in runs.items():
                results[name].append(run(code, source, os.path.join(work, "out"), jobs))
                wall, seconds, cpu, rss = results[name][-1]
                print(
                    f"round {round_ + 1} {name:14} process {wall:6.2f} s, library {seconds:6.2f} s, "
                    f"CPU {cpu:6.2f} s, peak RSS {rss:5.0f} MB",
                    flush=True,
                )
    print()
    print(
        f"| run | library s | files/s | MB/s | CPU s | peak RSS MB (a worker) | process s | "
        f"vs ideal: largest alone x {len(files)} files / {cores} cores |"
    )
    print("|---|---|---|---|---|---|---|---|")
    alone = results["largest alone"]
    for name, rows in results.items():
        median = [statistics.median(r[k] for r in rows) for k in range(4)]
        count, size = (1, largest.stat().st_size) if name == "largest alone" else (len(files), total)
        ideal = (
            "-"
            if name == "largest alone"
            else (
                f"{statistics.median(r[1] / (a[1] * len(files) / cores) for r, a in zip(rows, alone, strict=True)):.2f}x the time"
            )
        )
        print(
            f"| {name} | {median[1]:.2f} | {count / median[1]:.2f} | {size / 1e6 / median[1]:.1f} | "
            f"{median[2]:.2f} | {median[3]:.0f} | {median[0]:.2f} | {ideal} |"
        )
    for name in ("many --jobs 1", "many --jobs 2"):
        speed = statistics.median(
            (total / r[1]) / (largest.stat().st_size / a[1])
            for r, a in zip(results[name], alone, strict=True)
        )
        print(f"{name}: MB/s over the largest alone's MB/s = {speed:.2f} (median of the rounds' ratios)")
    jobs_ratio = statistics.median(
        b[1] / a[1] for a, b in zip(results["many --jobs 1"], results["many --jobs 2"], strict=True)
    )
    print(f"--jobs 2 time / --jobs 1 time = {jobs_ratio:.2f} (median of the rounds' ratios)")


if __name__ == "__main__":
    main()
