"""Issue 11, row 2: one section of N attribute IDs whose 64-bit FNV-1a hashes agree in their
low 17 bits (every slot of the old unseeded `repeated_id` table up to 2^17 slots), against one
section of N ordinary IDs of the same length. With a keyed hash the two cost the same.

    python benchmarks/hostile/colliding_ids.py [--ids 32768] [--to parquet] [--pure]
"""

import random

from _measure import arguments, cached, convert, show

args = arguments(__doc__, ids=(int, 32_768, "attribute IDs in the one section"))
BITS = 17
MASK = (1 << BITS) - 1
PRIME = 1099511628211 & MASK
INVERSE = pow(PRIME, -1, 1 << BITS)
BASIS = 1469598103934665603 & MASK
PRINTABLE = [c for c in range(0x21, 0x7F) if c not in b'"\\']


def low_fnv(data: bytes) -> int:
    h = BASIS
    for c in data:
        h = ((h ^ c) * PRIME) & MASK
    return h


def colliding(count: int) -> list[bytes]:
    """IDs whose hashes are 0 in their low bits: a random prefix, and the two last bytes that
    bring its state there (found by running the hash backwards from 0)."""
    finish = {}
    for b2 in PRINTABLE:
        before2 = (0 * INVERSE) ^ b2
        for b1 in PRINTABLE:
            finish.setdefault(((before2 * INVERSE) & MASK) ^ b1, bytes((b1, b2)))
    found, rng = [], random.Random(0)
    while len(found) < count:
        prefix = b"id-%010d" % rng.randrange(10**10)
        suffix = finish.get(low_fnv(prefix))
        if suffix is not None:
            found.append(prefix + suffix)
    assert all(low_fnv(i) == 0 for i in found)
    return list(dict.fromkeys(found))[:count]


def ordinary(count: int) -> list[bytes]:
    return [b"id-%012d" % i for i in range(count)]


def section(ids):
    def write(f):
        f.write(b'{"profiles":{"p":{"sections":{"s":{"attributes":{')
        f.write(b",".join(b'"%s":{"value":1}' % i for i in ids))
        f.write(b"}}}}}}")
    return write


for label, make in (("colliding IDs", colliding), ("ordinary IDs", ordinary)):
    path = cached(args, f"ids-{make.__name__}-{args.ids}.json", section(make(args.ids)))
    show(f"{args.ids} {label} in one section", convert(args, path), path.stat().st_size)
