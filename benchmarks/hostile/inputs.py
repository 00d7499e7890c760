"""The crafted inputs of issue 11, each written to a binary file object: shared by the
reproducers here and by tests/test_cost.py (which puts this folder on sys.path)."""

from __future__ import annotations

import json
import random

#: A profile whose one attribute's value begins at len(NESTED_HEAD) (wrapped layout).
NESTED_HEAD = b'{"profiles":{"p":{"sections":{"s":{"attributes":{"a":{"value":'


def one_profile_sections(f, n: int) -> None:
    """One profile with n empty sections."""
    f.write(b'{"profiles":{"p":{"sections":{')
    f.write(b",".join(b'"section-%09d":{}' % i for i in range(n)))
    f.write(b"}}}}")


def profiles_of_one_section(f, n: int) -> None:
    """n profiles of one empty section each: the ordinary file beside one_profile_sections."""
    f.write(b'{"profiles":{')
    f.write(b",".join(b'"p%09d":{"sections":{"s":{}}}' % i for i in range(n)))
    f.write(b"}}")


def one_section_attributes(f, ids: list[bytes]) -> None:
    """One profile, one section, an attribute per ID (value 1)."""
    f.write(b'{"profiles":{"p":{"sections":{"s":{"attributes":{')
    f.write(b",".join(b'"%s":{"value":1}' % i for i in ids))
    f.write(b"}}}}}}")


def ordinary_ids(n: int) -> list[bytes]:
    return [b"id-%012d" % i for i in range(n)]


_BITS = 17  # the slots of the old table up to 2^17: more than 64k IDs never collided in fewer bits
_MASK = (1 << _BITS) - 1
_PRIME = 1099511628211 & _MASK
_INVERSE = pow(_PRIME, -1, 1 << _BITS)
_BASIS = 1469598103934665603 & _MASK
_PRINTABLE = [c for c in range(0x21, 0x7F) if c not in b'"\\']


def _low_fnv(data: bytes) -> int:
    h = _BASIS
    for c in data:
        h = ((h ^ c) * _PRIME) & _MASK
    return h


def colliding_ids(n: int) -> list[bytes]:
    """n distinct IDs (of the length of ordinary_ids) whose 64-bit FNV-1a hashes are 0 in their
    low 17 bits: one slot of the old unseeded table for all. Each is a random prefix and the two
    bytes that bring the hash there (found by running the hash backwards from 0: the low bits
    of FNV-1a depend on the low bits only, and the prime is invertible)."""
    finish: dict[int, bytes] = {}
    for b2 in _PRINTABLE:
        for b1 in _PRINTABLE:
            finish.setdefault((((b2 * _INVERSE) & _MASK) ^ b1), bytes((b1, b2)))
    found: dict[bytes, None] = {}
    rng = random.Random(0)
    while len(found) < n:
        prefix = b"id-%010d" % rng.randrange(10**10)
        suffix = finish.get(_low_fnv(prefix))
        if suffix is not None:
            found[prefix + suffix] = None
    return list(found)


def nested_arrays(f, depth: int) -> None:
    """An attribute value that opens ``depth`` arrays and never closes them."""
    f.write(NESTED_HEAD)
    step = 1 << 20
    for _ in range(depth // step):
        f.write(b"[" * step)
    f.write(b"[" * (depth % step))


def one_section_events(f, n: int) -> None:
    """One profile, one section of n events with a small data object each."""
    f.write(b'{"profiles":{"p":{"sections":{"s":{"events":[')
    f.write(
        b",".join(
            b'{"typeId":"t","correlationId":"c%d","sourceEventTime":1700000000000,'
            b'"createdAt":1700000000000,"data":{"i":%d,"text":"x"}}' % (i, i)
            for i in range(n)
        )
    )
    f.write(b"]}}}}}")


def data_keys(f, n: int) -> None:
    """One event whose data object holds n keys."""
    f.write(b'{"profiles":{"p":{"sections":{"s":{"events":[{"typeId":"t","createdAt":1700000000000,"data":{')
    f.write(b",".join(b'"key-%d":%d' % (i, i) for i in range(n)))
    f.write(b"}}]}}}}}")


def big_data_events(f, size: int, data_bytes: int = 20_000) -> None:
    """About ``size`` bytes of profiles of 10 events each, every data object about
    ``data_bytes`` of text (64 distinct ones)."""
    rng = random.Random(0)
    payloads = [
        json.dumps(
            {"text": "".join(rng.choice("abcdefghij klmnop") for _ in range(data_bytes)), "n": i}
        ).encode()
        for i in range(64)
    ]
    f.write(b'{"profiles":{')
    written = profile = 0
    while written < size:
        events = b",".join(
            b'{"typeId":"t","correlationId":"c%d","sourceEventTime":1700000000000,'
            b'"createdAt":1700000000000,"data":%s}' % (i, payloads[(profile + i) % 64])
            for i in range(10)
        )
        member = b'%s"p%d":{"sections":{"s":{"events":[%s]}}}' % (b"," if profile else b"", profile, events)
        f.write(member)
        written += len(member)
        profile += 1
    f.write(b"}}")


def long_integer(f, digits: int) -> None:
    """One profile: attribute "n" an integer of ``digits`` digits, attribute "s" a lone surrogate
    (so the fast engine hands the document to the exact engine, ijson)."""
    f.write(b'{"profiles":{"p":{"sections":{"s":{"attributes":{"s":{"value":"\\ud800"},"n":{"value":')
    f.write(b"9" * digits)
    f.write(b"}}}}}}}")
