"""``apsis-export metadata``: the account's definitions, saved for offline --names."""

from __future__ import annotations

import click

from .._metadata import Metadata
from ._api import api_options
from ._common import friendly_errors


@click.command("metadata")
@api_options
@click.option(
    "--save",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Write the definitions to FILE (for convert/inspect --metadata) instead of stdout.",
)
@click.option("--quiet", "-q", is_flag=True, help="No summary line.")
@friendly_errors
def metadata_command(connect, save, quiet):
    """Load every section with its attributes, tags and event types from the API.

    Use the file with `convert --names --metadata FILE` to name the columns of
    exports offline.
    """
    with connect() as api:
        metadata = Metadata.from_api(api)
    if save is None:
        click.echo(metadata.to_json())
        return
    metadata.save(save)
    if not quiet:
        counts = ", ".join(f"{n:,} {kind}" for kind, n in metadata.counts.items())
        click.echo(f"apsis-export: saved {save}: {counts}", err=True)
