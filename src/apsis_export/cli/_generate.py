"""``apsis-export generate``: a synthetic export for trying things out and benchmarks."""

from __future__ import annotations

import json
import time

import click

from .._generate import generate, generated_metadata
from ._common import friendly_errors, parse_size


def _parse_range(ctx, param, text: str) -> tuple[int, int]:
    """``MIN-MAX`` or a single ``N`` (= N-N), non-negative integers."""
    lo, sep, hi = text.strip().partition("-")
    try:
        lo_n = int(lo)
        hi_n = int(hi) if sep else lo_n
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a range like 1-3 or a number") from None
    if not 0 <= lo_n <= hi_n:
        raise click.BadParameter(f"{text!r}: need 0 <= MIN <= MAX")
    return lo_n, hi_n


@click.command("generate")
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--size", default="100MB", show_default=True, help="Approximate JSON size: 200MB, 2GB, 1GiB...")
@click.option("--gzip", "compress", is_flag=True, help="Write gzip (the size is of the JSON inside).")
@click.option("--seed", default=0, show_default=True, help="Same seed (and options), same bytes.")
@click.option("--layout", type=click.Choice(["wrapped", "bare"]), default="wrapped", show_default=True)
@click.option(
    "--sections",
    default="1-3",
    show_default=True,
    callback=_parse_range,
    metavar="MIN-MAX",
    help="Sections per profile.",
)
@click.option(
    "--attributes",
    default="5-40",
    show_default=True,
    callback=_parse_range,
    metavar="MIN-MAX",
    help="Attribute IDs drawn per section, tags included (repeats collapse; the count printed is exact).",
)
@click.option(
    "--events",
    default="0-50",
    show_default=True,
    callback=_parse_range,
    metavar="MIN-MAX",
    help="Events per section.",
)
@click.option(
    "--tag-ratio",
    default=0.2,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Share of attributes that are tags (null values).",
)
@click.option(
    "--pool",
    default=2048,
    show_default=True,
    type=click.IntRange(min=1),
    help="Distinct pre-rendered section bodies (more: more variety, slower start).",
)
@click.option(
    "--metadata",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Also save definitions that name and type what is generated (for --names --metadata FILE).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the counts as one JSON object on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="Do not print the counts.")
@friendly_errors
def generate_command(
    out, size, compress, seed, layout, sections, attributes, events, tag_ratio, pool, metadata, as_json, quiet
):
    """Write a synthetic export to OUT; print the exact counts written.

    A conversion of OUT gives exactly these rows: attributes (tags included),
    events, and extras (the wrapped layout's metadata).
    """
    start = time.perf_counter()
    stats = generate(
        out,
        size=parse_size(size),
        gzip=compress,
        seed=seed,
        layout=layout,
        sections=sections,
        attributes=attributes,
        events=events,
        tag_ratio=tag_ratio,
        pool=pool,
    )
    seconds = time.perf_counter() - start
    if metadata:
        generated_metadata(sections[1]).save(metadata)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "path": str(stats.path),
                    "bytes_json": stats.bytes_json,
                    "profiles": stats.profiles,
                    "sections": stats.sections,
                    "attributes": stats.attributes,
                    "tags": stats.tags,
                    "events": stats.events,
                    "extras": stats.extras,
                    "seconds": round(seconds, 3),
                }
            )
        )
    elif not quiet:
        click.echo(
            f"{stats.path}: {stats.bytes_json:,} bytes of JSON; {stats.profiles:,} profiles, "
            f"{stats.sections:,} sections, {stats.attributes:,} attributes ({stats.tags:,} tags), "
            f"{stats.events:,} events, {stats.extras:,} extras; {seconds:.1f} s, "
            f"{stats.bytes_json / 1e6 / max(seconds, 1e-9):,.0f} MB/s",
            err=True,
        )
