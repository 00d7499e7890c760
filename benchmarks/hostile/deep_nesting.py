"""Issue 11, row 3: an attribute value that opens N arrays (`[` x N, never closed). The
conversion must fail with a clean error at the byte where nesting passes the limit (200 levels
below the top: near byte 270), in the memory of an ordinary file of the same size.

    python benchmarks/hostile/deep_nesting.py [--depth 40000000] [--to parquet] [--pure]
"""

from _measure import arguments, cached, convert, show

args = arguments(__doc__, depth=(int, 40_000_000, "arrays opened"))
HEAD = b'{"profiles":{"p":{"sections":{"s":{"attributes":{"a":{"value":'


def nested(f):
    f.write(HEAD)
    for _ in range(args.depth // (1 << 20)):
        f.write(b"[" * (1 << 20))
    f.write(b"[" * (args.depth % (1 << 20)))


path = cached(args, f"nested-{args.depth}.json", nested)
show(f"{args.depth:,} nested arrays (value starts at byte {len(HEAD)})", convert(args, path), path.stat().st_size)
