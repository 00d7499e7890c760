"""Issue 11, row 2: one section of N attribute IDs whose 64-bit FNV-1a hashes agree in their
low 17 bits (one slot of the old unseeded `repeated_id` table, up to 2^17 slots), against one
section of N ordinary IDs of the same length. With a keyed hash the two cost the same.

    python benchmarks/hostile/colliding_ids.py [--ids 65536] [--to parquet] [--pure] [--python PY]
"""

from _measure import arguments, cached, convert, show
from inputs import colliding_ids, one_section_attributes, ordinary_ids

args = arguments(__doc__, ids=(int, 65_536, "attribute IDs in the one section"))
for label, make in (("colliding IDs", colliding_ids), ("ordinary IDs", ordinary_ids)):
    path = cached(
        args,
        f"ids-{make.__name__}-{args.ids}.json",
        lambda f, make=make: one_section_attributes(f, make(args.ids)),
    )
    show(f"{args.ids} {label} in one section", convert(args, path), path.stat().st_size)
