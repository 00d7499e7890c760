"""convert_many on a folder of generated exports: --jobs 1, 2 and the default, against the hardware limit.

    python benchmarks/many.py --files 8 --size 250MB --repeat 3      # the issue's folder: 2 GB
    python benchmarks/many.py --files 8 --size 50MB --repeat 5

Generates the exports once (``benchmarks/_folder.py``), then per round runs, interleaved (a noisy
machine hurts them alike), each in a fresh process, writing one dataset:

- ``one by one``: ``convert(file, OUT, export=name)`` for each file in turn, in one process (gc
  off, as in convert_many's workers and the command). The sum of its conversions' CPU seconds
  (their writer threads' included) is the work the folder takes; divided by the cores it is the
  **limit**: the wall time of a run that keeps every core busy with that work and adds none.
  The converting thread's CPU seconds (``time.thread_time``) beside it say how many cores one
  conversion keeps busy on cores of its own (the writer thread runs beside it): a conversion
  cannot take less wall time than its converting thread's CPU time.
- ``command --jobs N`` (1, 2; ``command`` alone: the default): ``apsis-export convert FILES...
  --out OUT -q``, the one command of the issue. Seconds are the process's (Python's start and
  imports included); CPU seconds and peak RSS are those ``wait4`` gives: the command's own and
  its workers' (forked children it waits for), so the peak is the largest worker's.
- ``library``: ``convert_many(FILES, OUT)`` (default jobs) from a script that imports
  apsis_export at its top, as a user's does (the fork server the call starts imports it too).
  Seconds are ManySummary.seconds; CPU seconds are the script's and each input's in its worker
  (InputSummary.cpu_seconds: a worker's start is not in them); peak RSS the largest worker's.
- ``largest alone``: ``convert(LARGEST, OUT)`` (library seconds and CPU).

Each run also records the load average before it and, on Linux, the CPU seconds the other
processes of the machine took during it (/proc/stat's busy time less the run's own): a wall time
says something of the hardware only where they are near 0. ``--wait-idle S`` waits before each
run (up to S seconds) until the machine's cores were at least 90% idle for 2 seconds;
``--max-others F`` runs again (up to ``--tries`` times in all, then keeps the last) a run during
which the others took more than F of the cores' time (CPU seconds / (wall x cores)). Figures are
medians over the rounds; ratios the median of each round's ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _folder import add_folder_arguments, generated_folder

#: Each run is one of these scripts in a fresh process; it prints a JSON object: the library's
#: seconds, the CPU seconds of the run (this process and its workers), a worker's peak RSS in MB
#: (this process's for conversions in it), and per input the CPU seconds and peak RSS of its worker.
SCRIPTS = {
    "many": """
import json, resource, sys
import apsis_export

def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

if __name__ == "__main__":
    files, out = json.loads(sys.argv[1]), sys.argv[2]
    s = apsis_export.convert_many(files, out)
    print(json.dumps({
        "seconds": s.seconds,
        "cpu": cpu() + sum(i.cpu_seconds for i in s.inputs),
        "rss": max(i.peak_rss for i in s.inputs) / 2**20,
        "inputs": [[round(i.cpu_seconds, 2), round(i.peak_rss / 2**20)] for i in s.inputs],
    }))
""",
    "convert": """
import gc, json, os, resource, sys, time
import apsis_export

gc.disable()  # as in convert_many's workers and the apsis-export command

def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

if __name__ == "__main__":
    files, out = json.loads(sys.argv[1]), sys.argv[2]
    seconds = work = main = 0.0
    inputs = []
    for path in files:
        before, thread_before = cpu(), time.thread_time()
        export = os.path.basename(path) if len(files) > 1 else None
        seconds += apsis_export.convert(path, out, export=export).seconds
        inputs.append([round(cpu() - before, 2), None])
        work += cpu() - before
        main += time.thread_time() - thread_before
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "cpu": work, "main": main, "rss": rss, "inputs": inputs}))
""",
}


def busy_seconds() -> float | None:
    """CPU seconds every core of the machine has been busy since boot (None where /proc/stat is not)."""
    try:
        with open("/proc/stat") as stat:
            user, nice, system, _idle, _iowait, irq, softirq = map(int, stat.readline().split()[1:8])
    except (OSError, ValueError):
        return None
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def wait_idle(limit: float, cores: int) -> None:
    """Wait (at most ``limit`` seconds) until the cores were at least 90% idle for 2 seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = busy_seconds()
        if before is None:
            return
        time.sleep(2)
        if busy_seconds() - before < 0.1 * 2 * cores:
            return


def run(kind: str, files: list[Path], out: str, jobs: int | None, work: str) -> dict:
    """One run in a fresh process: the script's figures, its process's wall time, the load
    average (1 minute) before it and the CPU seconds the machine's other processes took during it."""
    shutil.rmtree(out, ignore_errors=True)
    load = os.getloadavg()[0]
    busy = busy_seconds()
    names = json.dumps([str(f) for f in files])
    if kind == "command":
        argv = [sys.executable, "-m", "apsis_export", "convert", *map(str, files), "--out", out, "-q"]
        argv += ["--jobs", str(jobs)] if jobs is not None else []
    else:
        argv = [sys.executable, os.path.join(work, f"{kind}.py"), names, out]
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        start = time.perf_counter()
        child = subprocess.Popen(argv, stdout=stdout, stderr=stderr, text=True)
        _, status, usage = os.wait4(child.pid, 0)  # the CPU and peak RSS of it and its waited children
        wall = time.perf_counter() - start
        busy = busy_seconds() - busy if busy is not None else None
        child.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        printed, errors = stdout.read(), stderr.read()
    shutil.rmtree(out, ignore_errors=True)
    if child.returncode != 0:
        raise SystemExit(f"{kind} run failed ({child.returncode}): {errors}")
    if kind == "command":  # its workers are forked children it waited for: their CPU is in wait4's
        result = {
            "seconds": wall,
            "cpu": usage.ru_utime + usage.ru_stime,
            "rss": usage.ru_maxrss / 1024,
            "inputs": [],
        }
    else:
        result = json.loads(printed)
    # The run's own CPU: the process and the children it waited for, and a library call's workers
    # (forked by its fork server: their start is counted as the others').
    own = usage.ru_utime + usage.ru_stime + (sum(i[0] for i in result["inputs"]) if kind == "many" else 0)
    others = max(0.0, busy - own) if busy is not None else float("nan")
    return {**result, "wall": wall, "load": load, "others": others}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_folder_arguments(parser, size="50MB", data_dir="/tmp/apsis-bench-many")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--wait-idle", type=float, default=0, metavar="S", help="see the module doc")
    parser.add_argument("--max-others", type=float, default=None, metavar="F", help="see the module doc")
    parser.add_argument("--tries", type=int, default=5, help="with --max-others")
    parser.add_argument(
        "--runs",
        default="one by one,command --jobs 1,command --jobs 2,command,library,largest alone",
        help="which runs, comma-separated",
    )
    args = parser.parse_args()

    folder = generated_folder(args)
    files, largest, total = folder.files, folder.largest, folder.total_bytes
    cores = os.cpu_count() or 1
    catalogue = {
        "one by one": ("convert", files, None),
        "command --jobs 1": ("command", files, 1),
        "command --jobs 2": ("command", files, 2),
        "command": ("command", files, None),
        "library": ("many", files, None),
        "largest alone": ("convert", [largest], None),
    }
    runs = {name: catalogue[name] for name in args.runs.split(",")}
    results: dict[str, list[dict]] = {name: [] for name in runs}
    print(
        f"{len(files)} exports, {total / 1e6:,.0f} MB together; largest {largest.name} "
        f"{largest.stat().st_size / 1e6:,.1f} MB; {cores} cores; load average before: "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="apsis-many-") as work:
        for kind, code in SCRIPTS.items():
            Path(work, f"{kind}.py").write_text(code)
        out = os.path.join(work, "out")
        for round_ in range(args.repeat):
            for name, (kind, inputs, jobs) in runs.items():
                tries = 0
                while True:
                    tries += 1
                    if args.wait_idle:
                        wait_idle(args.wait_idle, cores)
                    result = run(kind, inputs, out, jobs, work)
                    busy = result["others"] / (result["wall"] * cores) > (args.max_others or 0)
                    if args.max_others is None or not busy or tries >= args.tries:
                        break
                results[name].append(result)
                print(
                    f"round {round_ + 1} {name:19} library {result['seconds']:6.2f} s, process "
                    f"{result['wall']:6.2f} s, CPU {result['cpu']:6.2f} s, peak RSS {result['rss']:4.0f} MB, "
                    f"load {result['load']:.1f}, others' CPU {result['others']:.1f} s, tries {tries}; "
                    f"per input CPU s, MB: "
                    f"{result['inputs']}",
                    flush=True,
                )
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    report(results, files, largest, total, cores)


def report(results: dict[str, list[dict]], files, largest: Path, total: int, cores: int) -> None:
    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    def ratio(name: str, other: str, per: str) -> str:
        if other not in results or name == other:
            return "-"
        pairs = zip(results[name], results[other], strict=True)
        if per == "limit":
            return f"{statistics.median(r['seconds'] / (o['cpu'] / cores) for r, o in pairs):.2f}"
        return f"{statistics.median(r['seconds'] / o['seconds'] for r, o in pairs):.2f}"

    print(
        f"| run | seconds | files/s | MB/s | CPU s | peak RSS MB (a worker) | process s | load | "
        f"others' CPU s | x limit (one by one's CPU s / {cores} cores) | x command --jobs 1 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in results:
        count, size = (1, largest.stat().st_size) if name == "largest alone" else (len(files), total)
        seconds = median(name, "seconds")
        print(
            f"| {name} | {seconds:.2f} | {count / seconds:.2f} | {size / 1e6 / seconds:.0f} | "
            f"{median(name, 'cpu'):.2f} | {median(name, 'rss'):.0f} | {median(name, 'wall'):.2f} | "
            f"{median(name, 'load'):.1f} | {median(name, 'others'):.1f} | "
            f"{ratio(name, 'one by one', 'limit') if count > 1 else '-'} | "
            f"{ratio(name, 'command --jobs 1', 'jobs') if count > 1 else '-'} |"
        )
    if "one by one" in results:
        work, main = median("one by one", "cpu"), median("one by one", "main")
        print(
            f"limit: {work / cores:.2f} s (one by one's {work:.2f} CPU s / {cores} cores). One conversion "
            f"at a time keeps {work / main:.2f} cores busy on idle cores: CPU s / its converting thread's "
            f"{main:.2f} s."
        )
    if "largest alone" in results:
        alone = median("largest alone", "main")
        print(
            f"The issue's ideal, the largest alone x {len(files)} files / {cores} cores: "
            f"{median('largest alone', 'seconds') * len(files) / cores:.2f} s as measured; on idle cores "
            f"about its converting thread's CPU (its wall cannot be less, and its writer thread keeps up "
            f"beside it) x files / cores: {alone * len(files) / cores:.2f} s."
        )


if __name__ == "__main__":
    main()
