"""``apsis-export convert``: a downloaded export file into tables."""

from __future__ import annotations

import click

from .._convert import convert
from ._common import convert_options, friendly_errors, load_names, print_summary, run_with_progress


@click.command("convert")
@click.argument("input", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@convert_options
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary line.")
@friendly_errors
def convert_command(input, convert_kwargs, names, metadata, quiet):
    """Convert the export INPUT (a path or - for stdin; plain or gzip) into tables in --out."""
    convert_kwargs["names"] = load_names(names, metadata)
    summary = run_with_progress(quiet, lambda bar: convert(input, progress=bar, **convert_kwargs))
    if not quiet:
        print_summary(summary)
        if click.get_current_context().params.get("debug"):
            for reason, count in summary.refused.items():
                click.echo(f"  compiled step: {count:,} profiles read in Python instead: {reason}", err=True)
