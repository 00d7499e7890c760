"""Issue 11, row 4: an attribute value that is an integer of N digits, in a profile whose other
attribute holds a lone surrogate (so the fast engine hands the document to the exact engine,
ijson), at N and 4N digits, beside an ordinary file of the same size. Linear: 4N costs about
four times N, and N about what the ordinary file costs.

    python benchmarks/hostile/long_integer.py [--digits 1000000] [--to parquet] [--pure] [--python PY]
"""

from _measure import arguments, cached, convert, show
from inputs import long_integer


def ordinary(f, size: int) -> None:
    """Profiles of one short attribute each, ``size`` bytes in all (and the same lone surrogate)."""
    f.write(b'{"profiles":{"p":{"sections":{"s":{"attributes":{"s":{"value":"\\ud800"}}}}}')
    written = 0
    i = 0
    while written < size:
        member = b',"p%09d":{"sections":{"s":{"attributes":{"n":{"value":%d}}}}}' % (i, 10**12 + i)
        f.write(member)
        written += len(member)
        i += 1
    f.write(b"}}")


args = arguments(__doc__, digits=(int, 1_000_000, "digits of the integer (also run at 4 times as many)"))
for digits in (args.digits, 4 * args.digits):
    path = cached(args, f"long-integer-{digits}.json", lambda f, digits=digits: long_integer(f, digits))
    show(f"a {digits}-digit integer", convert(args, path), path.stat().st_size)
path = cached(args, f"long-integer-ordinary-{args.digits}.json", lambda f: ordinary(f, args.digits))
show("ordinary file of that size", convert(args, path), path.stat().st_size)
