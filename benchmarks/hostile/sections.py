"""Issue 11, row 1: one profile with N empty sections (wrapped layout), against an ordinary
file of the same size (N profiles of one empty section each). The repeated-section check
must stay linear: the two should cost about the same.

    python benchmarks/hostile/sections.py [--sections 80000] [--to parquet] [--pure]
"""

from _measure import arguments, cached, convert, show

args = arguments(__doc__, sections=(int, 80_000, "sections in the one profile"))
n = args.sections


def one_profile(f):
    f.write(b'{"profiles":{"p":{"sections":{')
    f.write(b",".join(b'"section-%09d":{}' % i for i in range(n)))
    f.write(b"}}}}")


def many_profiles(f):
    f.write(b'{"profiles":{')
    f.write(b",".join(b'"p%09d":{"sections":{"s":{}}}' % i for i in range(n)))
    f.write(b"}}")


for label, write in (("one profile, %d sections" % n, one_profile), ("%d profiles, one section each" % n, many_profiles)):
    path = cached(args, f"sections-{write.__name__}-{n}.json", write)
    show(label, convert(args, path), path.stat().st_size)
