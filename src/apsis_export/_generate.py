"""Deterministic synthetic APSIS One exports, for samples, tests and benchmarks.

Streams the document in blocks of about 4 MiB, so memory stays flat at any
size (a few tens of MB: the pool below and one block). Speed comes from a pool of
pre-rendered section bodies (varied value types, unicode, escapes, tags, events)
that profiles draw from at random; per profile only a few random draws, one
``%``-format and counter additions remain, so the output runs at hundreds of MB/s
on one core once the pool is built (about half a second). Every profile key is
unique.

Determinism: all randomness comes from ``random.Random(seed)``'s
``getrandbits`` and ``random`` (whose streams Python keeps stable) through
:class:`_Draw`, which fixes the algorithms of ``randint``/``choice``/``sample``
(Python may change those of the :mod:`random` module; these reproduce CPython
3.11's draw for draw, so files made before keep their bytes). gzip output is
zlib at level 1 with a fixed header. The same arguments give the same bytes.

The returned :class:`GenerateStats` gives the exact row counts written, so a
conversion can be checked against them: ``attributes`` (tags included) equals the
attributes table's rows, ``events`` the events table's, ``profiles`` the
profiles, and ``extras`` the unknown keys (the wrapped layout's ``metadata``).
"""

from __future__ import annotations

import gzip as _gzip
import os
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import orjson

from ._metadata import Metadata

_T = TypeVar("_T")

_SECTIONS = (
    "usercreated.sections.europe-r6tz73a27t",
    "usercreated.sections.newsletter-h4h3dpu3qi",
    "com.apsis1.sections.default",
)
_TEXTS = (
    "plain text",
    "Zoë Ångström",
    "日本語のテキスト",
    "emoji 🎉 ok",
    'quote " and \\ backslash',
    "line\nbreak\ttab",
    "control \u0001 char",
    "</script>",
    "",
    "a" * 120,
)
_EVENT_TYPES = ("4381", "4382", "4390", "5012")

#: JSON bytes handed to the file (or to gzip) at once.
_BLOCK = 4 << 20


@dataclass
class GenerateStats:
    """What :func:`generate` wrote: the exact counts a conversion must reproduce."""

    path: Path
    bytes_json: int  # uncompressed JSON bytes
    profiles: int
    sections: int
    attributes: int  # attribute rows, tags included
    tags: int
    events: int
    extras: int = 0  # unknown keys: the wrapped layout's top-level "metadata"

    @property
    def rows(self) -> dict[str, int]:
        """Rows per table that a conversion of the file gives."""
        return {"attributes": self.attributes, "events": self.events, "extras": self.extras}


class _Draw:
    """Random draws with fixed algorithms on top of ``Random.getrandbits`` and ``Random.random``.

    ``randint``, ``choice`` and ``sample`` reproduce CPython 3.11's results draw for
    draw, but do not depend on the running Python's versions of them.
    """

    def __init__(self, seed: int):
        rng = random.Random(seed)
        self.random = rng.random
        self.getrandbits = rng.getrandbits

    def below(self, n: int) -> int:
        """Uniform integer in [0, n), n > 0: rejection sampling on n.bit_length() bits."""
        getrandbits = self.getrandbits
        k = n.bit_length()
        r = getrandbits(k)
        while r >= n:
            r = getrandbits(k)
        return r

    def randint(self, a: int, b: int) -> int:
        """Uniform integer in [a, b]."""
        return a + self.below(b - a + 1)

    def choice(self, seq: Sequence[_T]) -> _T:
        return seq[self.below(len(seq))]

    def sample(self, population: Iterable[_T], k: int) -> list[_T]:
        """``k`` distinct items of ``population`` in random order (CPython's small-population method)."""
        pool = list(population)
        n = len(pool)
        result: list[_T] = []
        for i in range(k):
            j = self.below(n - i)
            result.append(pool[j])
            pool[j] = pool[n - i - 1]
        return result


def _check_range(name: str, value: tuple[int, int]) -> tuple[int, int]:
    lo, hi = (int(v) for v in value)
    if not 0 <= lo <= hi:
        raise ValueError(f"{name} must be a range (MIN, MAX) with 0 <= MIN <= MAX, not {value!r}")
    return lo, hi


def _attribute_value(draw: _Draw, kind: int) -> str | bool | int | orjson.Fragment:
    randint = draw.randint
    if kind == 0:
        return draw.choice(_TEXTS)
    if kind == 1:
        return draw.random() < 0.5
    if kind == 2:
        return f"20{randint(10, 29)}-{randint(1, 12):02d}-{randint(1, 28):02d}"
    if kind == 3:
        return f"2024-0{randint(1, 9)}-1{randint(0, 9)}T12:{randint(10, 59)}:00Z"
    if kind == 4:
        if draw.random() < 0.05:  # beyond 64 bits: must stay exact
            return orjson.Fragment(str(2**70 + randint(0, 9)).encode())
        return randint(-1000, 10**6)
    return orjson.Fragment(f"{randint(0, 9999)}.{randint(0, 99):02d}".encode())  # decimal, digits kept


def _section_body(
    draw: _Draw, attributes: tuple[int, int], events: tuple[int, int], tag_ratio: float
) -> tuple[bytes, int, int, int]:
    """One pre-rendered section body: ``(json, attribute rows, tags, events)``.

    Attribute IDs are drawn with repetition, as the keys of one JSON object they
    collapse, so the attribute count is that of distinct IDs (exact, and at most the
    number drawn).
    """
    randint = draw.randint
    n_attr = randint(*attributes)
    attrs: dict[str, dict[str, Any]] = {}
    for _ in range(n_attr):
        if draw.random() < tag_ratio:
            attrs[f"tag.{randint(1, 25)}"] = {"value": None}
        else:
            kind = randint(0, 5)
            attrs[str(10000 + randint(0, 74) * 7 + kind)] = {"value": _attribute_value(draw, kind)}
    tags = sum(1 for k in attrs if k.startswith("tag."))
    body: dict[str, Any] = {"attributes": attrs}
    n_events = randint(*events)
    if n_events or draw.random() < 0.5:  # a section without events may omit the key
        body["events"] = [
            {
                "correlationId": f"{draw.getrandbits(64):016x}",
                "sourceEventTime": 0 if draw.random() < 0.1 else 1_700_000_000_000 + randint(0, 10**10),
                "typeId": draw.choice(_EVENT_TYPES),
                "createdAt": 1_700_000_000_000 + randint(0, 10**10),
                "data": {
                    "url": f"https://example.com/p?{randint(1, 999)}&x=ü",
                    "campaign": randint(1, 50),
                    "subject": draw.choice(_TEXTS),
                },
            }
            for _ in range(n_events)
        ]
    return orjson.dumps(body), len(attrs), tags, n_events


_DECLARED_TYPES = ("text", "boolean", "date", "timestamp", "number", "decimal number")
_EVENT_NAMES = ("Email opened", "Link clicked", "Form submitted", "Purchase")


def generated_metadata(sections: int = 3) -> Metadata:
    """Definitions matching what :func:`generate` writes, as the API would give them.

    Attribute ``10000 + 7k + t`` is declared with type ``t`` (text, boolean, date,
    timestamp, number, decimal number) and keyed in the file by its version ID;
    tags are ``tag.N``. The generator draws attributes for any section, but the
    definitions put them all in the first section (as APSIS scopes each to one).
    ``sections`` is the generator's maximum sections per profile.
    """
    names = [*_SECTIONS, *(f"usercreated.sections.extra-{i}" for i in range(len(_SECTIONS), sections))]
    defined = []
    for n, discriminator in enumerate(names):
        section = {
            "id": n + 1,
            "discriminator": discriminator,
            "name": discriminator.split(".")[-1].split("-")[0].title(),
            "attributes": [],
            "tags": [],
            "events": [],
        }
        if n == 0:
            section["attributes"] = [
                {
                    "discriminator": f"usercreated.attributes.a{k}-{_DECLARED_TYPES[t].replace(' ', '-')}",
                    "name": f"{_DECLARED_TYPES[t].split()[0]} {k}",
                    "type": _DECLARED_TYPES[t],
                    "versions": [{"id": str(10000 + k * 7 + t)}],
                }
                for k in range(75)
                for t in range(len(_DECLARED_TYPES))
            ]
            section["tags"] = [
                {
                    "discriminator": f"usercreated.tags.t{n}",
                    "name": f"Tag {n}",
                    "versions": [{"id": f"tag.{n}"}],
                }
                for n in range(1, 26)
            ]
            section["events"] = [
                {
                    "discriminator": f"usercreated.events.e{type_id}",
                    "name": name,
                    "versions": [{"id": type_id}],
                }
                for type_id, name in zip(_EVENT_TYPES, _EVENT_NAMES, strict=True)
            ]
        defined.append(section)
    return Metadata(defined)


def generate(
    out: str | os.PathLike[str],
    *,
    size: int,
    seed: int = 0,
    layout: str = "wrapped",
    gzip: bool = False,
    sections: tuple[int, int] = (1, 3),
    attributes: tuple[int, int] = (5, 40),
    events: tuple[int, int] = (0, 50),
    tag_ratio: float = 0.2,
    pool: int = 2048,
) -> GenerateStats:
    """Write a synthetic export of about ``size`` bytes of JSON to ``out``; return the exact counts.

    ``layout`` is ``"wrapped"`` (``{"profiles": {...}, "metadata": {...}}``) or
    ``"bare"`` (``{KEY: {SECTION: {...}}}``). Ranges are inclusive ``(MIN, MAX)``,
    drawn uniformly: ``sections`` per profile, ``attributes`` per section (of which
    a share ``tag_ratio`` are tags, i.e. null values; repeated IDs collapse) and
    ``events`` per section. ``pool`` is the number of distinct pre-rendered section
    bodies. At least one profile is written. The same arguments give the same bytes.
    """
    if layout not in ("wrapped", "bare"):
        raise ValueError(f"layout must be 'wrapped' or 'bare', not {layout!r}")
    sections = _check_range("sections", sections)
    attributes = _check_range("attributes", attributes)
    events = _check_range("events", events)
    if not 0.0 <= tag_ratio <= 1.0:
        raise ValueError(f"tag_ratio must be between 0 and 1, not {tag_ratio}")
    if pool < 1:
        raise ValueError(f"pool must be at least 1, not {pool}")
    draw = _Draw(seed)
    bodies = [_section_body(draw, attributes, events, tag_ratio) for _ in range(pool)]
    names = [s.encode() for s in _SECTIONS]
    names += [b"usercreated.sections.extra-%d" % i for i in range(len(names), sections[1])]
    n_names = len(names)
    below = draw.below
    wrapped = layout == "wrapped"
    profile_fmt = b'%s"p-%08d":{"sections":{%s}}' if wrapped else b'%s"p-%08d":{%s}'
    head = b'{"profiles":{' if wrapped else b"{"
    tail = b'},"metadata":{"generator":"apsis-export","seed":%d}}' % seed if wrapped else b"}"
    lo, hi = sections

    path = Path(out)
    n_profiles = n_sections = n_attributes = n_tags = n_events = 0
    written = 0
    with open(path, "wb") as raw:
        # mtime=0 and no file name in the header: the same arguments give the same bytes.
        fh = _gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=1, mtime=0) if gzip else raw
        with fh:
            block: list[bytes] = [head]
            block_len = len(head)
            while written + block_len + len(tail) < size or n_profiles == 0:
                n = lo + below(hi - lo + 1)
                # n distinct section names in random order (as _Draw.sample, inlined)
                names_left = names[:]
                chosen = []
                for i in range(n):
                    j = below(n_names - i)
                    chosen.append(names_left[j])
                    names_left[j] = names_left[n_names - i - 1]
                parts = []
                for name in chosen:
                    body, n_attr, tags, n_ev = bodies[below(pool)]
                    parts.append(b'"%s":%s' % (name, body))
                    n_attributes += n_attr
                    n_tags += tags
                    n_events += n_ev
                n_sections += n
                text = profile_fmt % (b"," if n_profiles else b"", n_profiles, b",".join(parts))
                n_profiles += 1
                block.append(text)
                block_len += len(text)
                if block_len >= _BLOCK:
                    fh.write(b"".join(block))
                    written += block_len
                    block, block_len = [], 0
            block.append(tail)
            fh.write(b"".join(block))
            written += block_len + len(tail)
    return GenerateStats(
        path, written, n_profiles, n_sections, n_attributes, n_tags, n_events, 1 if wrapped else 0
    )
