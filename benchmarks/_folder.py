"""The folder of generated exports the many-exports benchmarks share (``many.py``, ``spark_folder.py``).

``--files N --size SIZE``: exports ``day-1`` .. ``day-N`` of SIZE bytes of JSON each, made by
``apsis_export.generate`` with seeds 1..N (as ``apsis-export generate DIR/day-N.json --size SIZE
--seed N``), plain or gzip, cached in ``--data-dir/SIZE`` so later runs reuse them.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import apsis_export
from apsis_export.cli._common import parse_size


@dataclass(frozen=True)
class Folder:
    """The generated exports, in seed order (the folder may hold more, from a larger --files)."""

    files: list[Path]

    @property
    def total_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.files)

    @property
    def largest(self) -> Path:
        return max(self.files, key=lambda f: f.stat().st_size)


def add_folder_arguments(parser: argparse.ArgumentParser, *, size: str, data_dir: str) -> None:
    """``--files``, ``--size`` and ``--data-dir``, with this benchmark's defaults."""
    parser.add_argument("--files", type=int, default=8, help="how many exports")
    parser.add_argument("--size", default=size, help="JSON size of each export (e.g. 50MB, 250MB)")
    parser.add_argument("--data-dir", type=Path, default=Path(data_dir), help="where they are cached")


def generated_folder(args: argparse.Namespace, *, gzip: bool = False) -> Folder:
    """The folder of ``args`` (see :func:`add_folder_arguments`), generating the exports missing."""
    folder = args.data_dir / args.size
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".json.gz" if gzip else ".json"
    files = []
    for seed in range(1, args.files + 1):
        path = folder / f"day-{seed}{suffix}"
        if not path.exists():
            part = path.with_name(f".{path.name}.part")  # an interrupted run leaves no short file behind
            apsis_export.generate(part, size=parse_size(args.size), seed=seed, gzip=gzip)
            part.replace(path)
        files.append(path)
    return Folder(files)
