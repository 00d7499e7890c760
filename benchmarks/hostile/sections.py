"""Issue 11, row 1: one profile with N empty sections (wrapped layout), against an ordinary
file of about that size (N profiles of one empty section each). The repeated-section check
must stay linear: the two should cost about the same.

    python benchmarks/hostile/sections.py [--sections 80000] [--to parquet] [--pure] [--python PY]
"""

from _measure import arguments, cached, convert, show
from inputs import one_profile_sections, profiles_of_one_section

args = arguments(__doc__, sections=(int, 80_000, "sections in the one profile"))
n = args.sections
for label, write in (
    (f"one profile, {n} sections", one_profile_sections),
    (f"{n} profiles, one section each", profiles_of_one_section),
):
    path = cached(args, f"sections-{write.__name__}-{n}.json", lambda f, write=write: write(f, n))
    show(label, convert(args, path), path.stat().st_size)
