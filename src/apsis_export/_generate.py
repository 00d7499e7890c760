"""Deterministic synthetic APSIS One exports, for samples, tests and benchmarks.

Streams the document in blocks, so memory stays flat at any size. Speed comes
from a pool of pre-rendered section bodies (varied types, unicode, escapes,
tags, events) that profiles draw from at random; every profile key is unique.
The returned :class:`GenerateStats` gives the exact row counts written, so a
conversion can be checked against them.
"""

from __future__ import annotations

import gzip as _gzip
import os
import random
from dataclasses import dataclass
from pathlib import Path

import orjson

_SECTIONS = (
    "usercreated.sections.europe-r6tz73a27t",
    "usercreated.sections.newsletter-h4h3dpu3qi",
    "com.apsis1.sections.default",
)
_TEXTS = (
    "plain text", "Zoë Ångström", "日本語のテキスト", "emoji 🎉 ok", 'quote " and \\ backslash',
    "line\nbreak\ttab", "control \u0001 char", "</script>", "", "a" * 120,
)
_EVENT_TYPES = ("4381", "4382", "4390", "5012")


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


def _attribute_value(rng: random.Random, kind: int):
    if kind == 0:
        return rng.choice(_TEXTS)
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return f"20{rng.randint(10, 29)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if kind == 3:
        return f"2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T12:{rng.randint(10, 59)}:00Z"
    if kind == 4:
        if rng.random() < 0.05:  # beyond 64 bits: must stay exact
            return orjson.Fragment(str(2**70 + rng.randint(0, 9)).encode())
        return rng.randint(-1000, 10**6)
    return orjson.Fragment(f"{rng.randint(0, 9999)}.{rng.randint(0, 99):02d}".encode())  # decimal, digits kept


def _section_body(rng: random.Random, attributes: tuple[int, int], events: tuple[int, int], tag_ratio: float):
    n_attr = rng.randint(*attributes)
    attrs: dict[str, dict] = {}
    for _ in range(n_attr):
        if rng.random() < tag_ratio:
            attrs[f"tag.{rng.randint(1, 25)}"] = {"value": None}
        else:
            kind = rng.randint(0, 5)
            attrs[str(10000 + rng.randint(0, 74) * 7 + kind)] = {"value": _attribute_value(rng, kind)}
    tags = sum(1 for k in attrs if k.startswith("tag."))
    body: dict = {"attributes": attrs}
    n_events = rng.randint(*events)
    if n_events or rng.random() < 0.5:
        body["events"] = [
            {
                "correlationId": f"{rng.getrandbits(64):016x}",
                "sourceEventTime": 0 if rng.random() < 0.1 else 1_700_000_000_000 + rng.randint(0, 10**10),
                "typeId": rng.choice(_EVENT_TYPES),
                "createdAt": 1_700_000_000_000 + rng.randint(0, 10**10),
                "data": {"url": f"https://example.com/p?{rng.randint(1, 999)}&x=ü", "campaign": rng.randint(1, 50),
                         "subject": rng.choice(_TEXTS)},
            }
            for _ in range(n_events)
        ]
    return orjson.dumps(body), len(attrs), tags, n_events


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
    """Write a synthetic export of about ``size`` bytes of JSON to ``out``.

    ``layout`` is ``"wrapped"`` (``{"profiles": {...}, "metadata": {...}}``) or
    ``"bare"`` (``{KEY: {SECTION: {...}}}``). The same arguments give the same bytes.
    """
    if layout not in ("wrapped", "bare"):
        raise ValueError(f"layout must be 'wrapped' or 'bare', not {layout!r}")
    rng = random.Random(seed)
    bodies = [_section_body(rng, attributes, events, tag_ratio) for _ in range(pool)]
    path = Path(out)
    stats = GenerateStats(path, 0, 0, 0, 0, 0, 0)
    with open(path, "wb") as raw:
        # mtime=0 and no file name in the header: the same arguments give the same bytes.
        fh = _gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=1, mtime=0) if gzip else raw
        with fh:
            def emit(chunk: bytes) -> None:
                fh.write(chunk)
                stats.bytes_json += len(chunk)

            wrapped = layout == "wrapped"
            emit(b'{"profiles":{' if wrapped else b"{")
            block: list[bytes] = []
            block_len = 0
            tail = b'},"metadata":{"generator":"apsis-export","seed":%d}}' % seed if wrapped else b"}"
            while stats.bytes_json + block_len + len(tail) < size or stats.profiles == 0:
                n_sections = rng.randint(*sections)
                parts = []
                for sid in rng.sample(_SECTIONS, min(n_sections, len(_SECTIONS))):
                    body, n_attr, n_tags, n_events = bodies[rng.randrange(pool)]
                    parts.append(b'"%s":%s' % (sid.encode(), body))
                    stats.sections += 1
                    stats.attributes += n_attr
                    stats.tags += n_tags
                    stats.events += n_events
                sep = b"," if stats.profiles else b""
                sections_json = b",".join(parts)
                if wrapped:
                    text = b'%s"p-%08d":{"sections":{%s}}' % (sep, stats.profiles, sections_json)
                else:
                    text = b'%s"p-%08d":{%s}' % (sep, stats.profiles, sections_json)
                stats.profiles += 1
                block.append(text)
                block_len += len(text)
                if block_len >= 1 << 20:
                    emit(b"".join(block))
                    block, block_len = [], 0
            emit(b"".join(block) + tail)
    return stats
