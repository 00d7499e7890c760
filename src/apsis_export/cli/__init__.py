"""The ``apsis-export`` command: argument parsing and messages only.

Each command lives in its own module and is a thin wrapper over one library
function. Exit codes: 0 success, 1 bad input or failed run, 2 usage error,
130 interrupted (commands may document more).
"""

from __future__ import annotations

import gc

import click

from .. import __version__, _parallel
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


def run() -> None:
    """The ``apsis-export`` console script (and ``python -m apsis_export``). The process is the
    command's own, so it is tuned for one run, as a library call never tunes its host: the
    cyclic garbage collector is off (a conversion makes millions of acyclic objects and
    reference counting frees them; collections cost the exact engine a third of its time),
    and ``--jobs`` workers are forked (they start at once, with everything imported)."""
    gc.disable()
    _parallel.start_method = "fork"
    main(prog_name="apsis-export")
