"""Shared by the hostile-input reproducers: run one conversion in a child process under
/usr/bin/time -v and report its wall time, CPU time, peak RSS, exit code and last stderr line."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FORMATS = ("parquet", "csv", "jsonl")


def arguments(description: str, **defaults) -> argparse.Namespace:
    """The options every reproducer takes, plus ``defaults`` (name: (type, default, help))."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--python", default=sys.executable, help="the interpreter with apsis_export installed"
    )
    parser.add_argument("--to", default="parquet", choices=FORMATS)
    parser.add_argument("--pure", action="store_true", help="APSIS_EXPORT_PURE=1: no compiled step")
    parser.add_argument("--engine", default="fast", choices=("fast", "exact"))
    parser.add_argument(
        "--dir", default=tempfile.gettempdir() + "/apsis-hostile", help="where inputs are cached"
    )
    for name, (kind, default, text) in defaults.items():
        parser.add_argument("--" + name.replace("_", "-"), type=kind, default=default, help=text)
    return parser.parse_args()


def convert(args: argparse.Namespace, path: Path) -> dict:
    """Convert ``path`` in a child process; its figures."""
    out = Path(tempfile.mkdtemp(prefix="apsis-hostile-out-"))
    env = dict(os.environ, APSIS_EXPORT_PURE="1" if args.pure else "0")
    command = [
        "/usr/bin/time",
        "-v",
        args.python,
        "-m",
        "apsis_export",
        "convert",
        str(path),
        "--out",
        str(out),
        "--to",
        args.to,
        "--engine",
        args.engine,
    ]
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    stats = dict(re.findall(r"^\s*(.+?): (.+)$", done.stderr, re.M))
    program_lines = [line for line in done.stderr.splitlines() if not line.startswith(("\t", "Command"))]
    return {
        "exit": int(stats.get("Exit status", -1)),
        "cpu_s": float(stats["User time (seconds)"]) + float(stats["System time (seconds)"]),
        "wall_s": _seconds(stats["Elapsed (wall clock) time (h:mm:ss or m:ss)"]),
        "peak_rss_mb": int(stats["Maximum resident set size (kbytes)"]) / 1024,
        "message": program_lines[-1] if done.returncode else "",
    }


def _seconds(text: str) -> float:
    total = 0.0
    for part in text.split(":"):
        total = total * 60 + float(part)
    return total


def show(label: str, figures: dict, size: int) -> None:
    print(
        f"{label}: {size / 1e6:.1f} MB, exit {figures['exit']}, {figures['cpu_s']:.2f} s CPU, "
        f"{figures['wall_s']:.2f} s wall, peak RSS {figures['peak_rss_mb']:.0f} MB"
        + (f"\n  {figures['message']}" if figures["message"] else "")
    )


def cached(args: argparse.Namespace, name: str, write) -> Path:
    """The input ``name`` in ``args.dir``, written by ``write(file)`` unless it is there already."""
    path = Path(args.dir) / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            write(f)
        tmp.rename(path)
    return path
