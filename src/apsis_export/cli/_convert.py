"""``apsis-export convert``: downloaded export files into tables.

One local file (or - for stdin) is converted as it always was: a file per table. Several
inputs, a glob, a URI or --export-id go to :func:`apsis_export.convert_many`: one dataset
per table, every row with an ``export`` column.
"""

from __future__ import annotations

import os

import click

from .._convert import convert
from .._many import EXIT_SOME_FAILED, InputsFailed, ManySummary, convert_many
from .._modes import ExportId
from ..outputs import is_uri
from ._common import (
    EXIT_INTERRUPTED,
    convert_options,
    fail,
    friendly_errors,
    load_names,
    mode_values,
    print_summary,
    run_with_progress,
)

_GLOB_CHARS = set("*?[")


@click.command("convert")
@click.argument("inputs", metavar="INPUT...", nargs=-1, required=True)
@convert_options
@click.option(
    "--export-id",
    type=click.Choice(mode_values(ExportId)),
    default=None,
    help="With many inputs, the value of every row's export column: the file's name [default], its "
    "name without .json/.gz (stem), or its folder's name (parent: one folder per day).",
)
@click.option(
    "--keep-going",
    "-k",
    is_flag=True,
    help=f"With many inputs, convert the others when one fails (exit {EXIT_SOME_FAILED} if any did).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary lines.")
@friendly_errors
def convert_command(inputs, convert_kwargs, names, metadata, export_id, keep_going, quiet):
    """Convert the export INPUT (a path or - for stdin; plain or gzip) into tables in --out.

    Several INPUTs, glob patterns ('exports/*.json.gz', also s3://bucket/...*.gz) or URIs write one
    dataset per table in --out (Parquet, CSV or JSONL), every row with an export column (the file's
    name, or --export-id) and each input's rows in files named after it, converted in parallel (--jobs
    files at once, one per worker process). --if-exists skip converts only the inputs whose
    files are not there yet. A failed input writes nothing; exit 9 says some failed.
    """
    convert_kwargs["names"] = load_names(names, metadata)
    if len(inputs) == 1 and export_id is None and _one_file(inputs[0]):
        ctx = click.get_current_context()
        param = next(p for p in ctx.command.params if p.name == "inputs")
        path = os.fsdecode(
            click.Path(exists=True, dir_okay=False, allow_dash=True).convert(inputs[0], param, ctx)
        )
        summary = run_with_progress(quiet, lambda bar: convert(path, progress=bar, **convert_kwargs))
        if not quiet:
            print_summary(summary)
            if ctx.params.get("debug"):
                for reason, count in summary.refused.items():
                    click.echo(
                        f"  compiled step: {count:,} profiles read in Python instead: {reason}", err=True
                    )
        return
    convert_kwargs["out"] = convert_kwargs.pop("out_dir")
    try:
        summary = run_with_progress(
            quiet,
            lambda bar: convert_many(
                inputs,
                export_id=export_id or ExportId.NAME,
                keep_going=keep_going,
                progress=bar,
                **convert_kwargs,
            ),
        )
    except KeyboardInterrupt:  # each input commits alone: those that completed are there
        fail(
            "interrupted; the inputs that completed are in the dataset, the others wrote nothing",
            EXIT_INTERRUPTED,
        )
    except InputsFailed as exc:
        summary = exc.summary
        _print_many(summary, quiet)
        fail(
            f"{len(summary.failed)} of {len(summary.inputs)} inputs failed; no further input was started "
            "(--keep-going converts the others)",
            EXIT_SOME_FAILED,
        )
    _print_many(summary, quiet)
    if summary.failed:
        fail(f"{len(summary.failed)} of {len(summary.inputs)} inputs failed", EXIT_SOME_FAILED)


def _one_file(text: str) -> bool:
    """True for one local file as convert always took it: stdin, or a path that is no pattern."""
    return text == "-" or (not is_uri(text) and (os.path.isfile(text) or not _GLOB_CHARS & set(text)))


def _print_many(summary: ManySummary, quiet: bool) -> None:
    """A line per input (failures even when quiet), the total, the datasets written."""
    for item in summary.inputs:
        if item.status == "failed":
            click.echo(f"apsis-export: error: {item}", err=True)
        elif not quiet:
            click.echo(f"apsis-export: {item}", err=True)
    if not quiet:
        click.echo(f"apsis-export: {summary}", err=True)
        for path in summary.outputs.values():
            click.echo(f"  {path}", err=True)
