"""Our compiled step against yyjson on the same profile members, side by side (issue 14).

The question: would rebuilding the compiled step on yyjson (MIT, the parser DuckDB uses)
make it faster? Both parsers get the same profile members, cut out of the export by our
structural scan (which either design needs: members are what a batch is made of), and each
is called once per member from Python, so the call overhead is the same for both:

* ``ours``: ``Builder.add`` (``_native.c``): parses one member *and* appends its rows to the
  Arrow columns of both tables (strings decoded, values as text, event data as compact
  JSON, times to int64), exactly what a conversion does;
* ``yyjson``: ``yyjson.Document`` (the PyPI binding of yyjson 0.x) with ``NUMBERS_AS_RAW``
  (exact digits, as we need): parses the same member into yyjson's DOM and nothing more.
  A compiled step built on it would then still walk that DOM and build the same columns,
  so this figure is a *lower bound* for a yyjson-based step.

If ``ours`` (parse + build) costs no more than yyjson's parse alone, yyjson cannot make the
step faster. Figures: CPU seconds per GB of member text (this thread's time), median over
interleaved rounds, on the first ``--mb`` of each export.

    pip install yyjson
    python benchmarks/parser_choice.py /tmp/g1.json /tmp/g1s.json --mb 300 --rounds 7
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import yyjson

from apsis_export._engines._members import MemberScan
from apsis_export._native import Builder
from apsis_export._shape import WRAPPED
from apsis_export._source import Source, open_source


class _Members(MemberScan[bytes]):
    """The profile members of a wrapped export, as bytes, until ``limit`` bytes of them."""

    def __init__(self, source: Source, limit: int):
        super().__init__(source, WRAPPED)
        self.limit = limit
        self.members: list[bytes] = []
        self.size = 0

    def profile_member(self, start: int, end: int, text: bytearray) -> bytes | None:
        if self.size < self.limit:
            self.members.append(bytes(text))
            self.size += len(text)
        return None


def members(path: Path, limit: int) -> list[bytes]:
    with open_source(path) as source:
        scan = _Members(source, limit)
        for _ in scan.run():
            if scan.size >= limit:
                break
    return scan.members


def ours(texts: list[bytes], *, keep: bool = True) -> float:
    builder = Builder(json=False, attributes=keep, events=keep, iso_times=False)
    add, take = builder.add, builder.take
    start = time.thread_time()
    for n, text in enumerate(texts, 1):
        if add(text, wrapped=True, ambiguous=False) is None:
            raise SystemExit("the compiled step refused a profile: pick an export of the common shape")
        if n % 64 == 0:
            take()  # as a conversion does: the columns leave a batch at a time
    take()
    return time.thread_time() - start


def ours_parse(texts: list[bytes]) -> float:
    return ours(texts, keep=False)


def yyjson_parse(texts: list[bytes]) -> float:
    wrapped = [b"{" + text + b"}" for text in texts]  # a member alone is not a JSON document
    document, flags = yyjson.Document, yyjson.ReaderFlags.NUMBERS_AS_RAW
    start = time.thread_time()
    for text in wrapped:
        document(text, flags=flags)
    return time.thread_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("exports", nargs="+", type=Path)
    parser.add_argument("--mb", type=int, default=300, help="MB of members from each export")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    jobs = {
        "ours: parse + columns": ours,
        "ours: parse, no columns": ours_parse,
        "yyjson: parse to DOM only": yyjson_parse,
    }
    results = []
    for path in args.exports:
        texts = members(path, args.mb * 10**6)
        size = sum(map(len, texts))
        seconds: dict[str, list[float]] = {name: [] for name in jobs}
        for _ in range(args.rounds):
            for name, job in jobs.items():
                seconds[name].append(job(texts))
        row = {
            "export": path.name,
            "members": len(texts),
            "bytes": size,
            "cpu_s_per_gb": {
                name: round(statistics.median(s) / size * 1e9, 3) for name, s in seconds.items()
            },
            "runs": {name: [round(x, 3) for x in s] for name, s in seconds.items()},
        }
        results.append(row)
        print(f"{path.name}: {len(texts):,} members, {size / 1e6:.0f} MB, median of {args.rounds} rounds")
        for name, value in row["cpu_s_per_gb"].items():
            print(f"  {name:28} {value:6.3f} CPU-s/GB")
        a, b, c = row["cpu_s_per_gb"].values()
        print(f"  ours (parse + columns) / yyjson's parse alone: {a / c:.2f}x; parsing alone: {b / c:.2f}x")
    print(f"yyjson binding {yyjson.__version__ if hasattr(yyjson, '__version__') else '?'}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
