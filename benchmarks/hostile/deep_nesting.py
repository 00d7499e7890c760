"""Issue 11, row 3: an attribute value that opens N arrays (`[` x N, never closed). The
conversion must fail with a clean error at the byte where nesting passes the limit (200 levels
below the profile's value: byte 257 here), in the memory of an ordinary file.

    python benchmarks/hostile/deep_nesting.py [--depth 40000000] [--to parquet] [--pure] [--python PY]
"""

from _measure import arguments, cached, convert, show
from inputs import NESTED_HEAD, nested_arrays

args = arguments(__doc__, depth=(int, 40_000_000, "arrays opened"))
path = cached(args, f"nested-{args.depth}.json", lambda f: nested_arrays(f, args.depth))
show(
    f"{args.depth:,} nested arrays (the value starts at byte {len(NESTED_HEAD)})",
    convert(args, path),
    path.stat().st_size,
)
