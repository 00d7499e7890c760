"""``apsis-export generate``: a synthetic export for trying things out and benchmarks."""

from __future__ import annotations

import click

from .._generate import generate
from ._common import friendly_errors, parse_size


@click.command("generate")
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--size", default="100MB", show_default=True, help="Approximate JSON size: 200MB, 2GB, 1GiB...")
@click.option("--gzip", "compress", is_flag=True, help="Write gzip (the size is of the JSON inside).")
@click.option("--seed", default=0, show_default=True, help="Same seed, same bytes.")
@click.option("--layout", type=click.Choice(["wrapped", "bare"]), default="wrapped", show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="Do not print the counts.")
@friendly_errors
def generate_command(out, size, compress, seed, layout, quiet):
    """Write a synthetic export to OUT; print the exact counts written."""
    stats = generate(out, size=parse_size(size), gzip=compress, seed=seed, layout=layout)
    if not quiet:
        click.echo(
            f"{stats.path}: {stats.bytes_json:,} bytes of JSON; {stats.profiles:,} profiles, "
            f"{stats.sections:,} sections, {stats.attributes:,} attributes ({stats.tags:,} tags), "
            f"{stats.events:,} events",
            err=True,
        )
