"""The ``apsis-export`` command: argument parsing and messages only.

Each command lives in its own module and is a thin wrapper over one library
function. Exit codes: 0 success, 1 bad input or failed run, 2 usage error,
130 interrupted (commands may document more).
"""

from __future__ import annotations

import click

from .. import __version__
from ._convert import convert_command
from ._fetch import fetch_command
from ._generate import generate_command
from ._inspect import inspect_command
from ._metadata import metadata_command


@click.group()
@click.version_option(__version__, prog_name="apsis-export")
def main() -> None:
    """Turn APSIS One profile exports into CSV, JSONL or Parquet tables."""


main.add_command(convert_command)
main.add_command(fetch_command)
main.add_command(generate_command)
main.add_command(inspect_command)
main.add_command(metadata_command)
