"""The ``apsis-export`` command: argument parsing and messages only.

Each command is a thin wrapper over a library function (``convert``,
``generate``); exit codes: 0 success, 1 bad input or failed run, 2 usage error,
130 interrupted.
"""

from __future__ import annotations

import sys
import traceback
from functools import wraps

import click

from . import __version__
from ._convert import DEFAULT_TABLES, Progress, convert
from ._engines import ENGINE_NAMES
from ._errors import ApsisExportError
from ._generate import generate
from ._schema import TABLES
from ._shape import LAYOUTS
from .sinks import sink_names

EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130


def _fail(message: str, code: int = EXIT_FAILURE) -> None:
    click.echo(f"apsis-export: error: {message}", err=True)
    sys.exit(code)


def _friendly_errors(command):
    """Turn expected errors into one line on stderr and an exit code (traceback with --debug)."""

    @wraps(command)
    def wrapper(*args, debug: bool = False, **kwargs):
        try:
            return command(*args, **kwargs)
        except ApsisExportError as exc:
            if debug:
                traceback.print_exc()
            _fail(str(exc))
        except KeyboardInterrupt:
            if debug:
                traceback.print_exc()
            _fail("interrupted; nothing was written", EXIT_INTERRUPTED)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:  # a bug of ours: still one line, unless asked for more
            if debug:
                traceback.print_exc()
            _fail(f"unexpected {type(exc).__name__}: {exc} (this is a bug; --debug shows the traceback)")

    return click.option("--debug", is_flag=True, help="Show a traceback on errors.")(wrapper)


def _parse_size(text: str) -> int:
    units = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}
    number = text.strip().upper().rstrip("S")
    digits = number.rstrip("KMGIB")
    unit = number[len(digits):]
    try:
        return int(float(digits) * units[unit])
    except (ValueError, KeyError):
        raise click.BadParameter(f"{text!r} is not a size like 200MB, 2GB or 1GiB") from None


class _ProgressBar:
    """A one-line progress bar on stderr: bytes done/total, MB/s, profiles."""

    def __init__(self):
        self._shown = False

    def __call__(self, p: Progress) -> None:
        mb = p.bytes_read / 1e6
        rate = p.bytes_json / 1e6 / p.seconds if p.seconds > 0 else 0.0
        if p.total_bytes:
            frac = min(p.bytes_read / p.total_bytes, 1.0)
            bar = "#" * int(frac * 24)
            head = f"[{bar:<24}] {frac:4.0%} {mb:,.1f}/{p.total_bytes / 1e6:,.1f} MB"
        else:
            head = f"{mb:,.1f} MB"
        click.echo(f"\r{head}  {rate:,.1f} MB/s  {p.profiles:,} profiles  {p.rows:,} rows\x1b[K", err=True, nl=False)
        self._shown = True

    def end(self) -> None:
        if self._shown:
            click.echo("\r\x1b[K", err=True, nl=False)


@click.group()
@click.version_option(__version__, prog_name="apsis-export")
def main() -> None:
    """Turn APSIS One profile exports into CSV, JSONL or Parquet tables."""


@main.command("convert")
@click.argument("input", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--to", "format", default="parquet", show_default=True, metavar="FORMAT",
              help=f"Output format: {', '.join(sink_names())} (or a plugged-in sink).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Directory for the tables (created if missing); one file per table.")
@click.option("--tables", default=None, metavar="LIST",
              help=f"Comma-separated tables from {','.join(TABLES)} "
                   f"[default: {','.join(DEFAULT_TABLES)}, plus extras when unknown keys occur].")
@click.option("--dedupe-events", is_flag=True, help="Drop events whose correlationId repeats within a profile+section.")
@click.option("--layout", type=click.Choice(LAYOUTS), default="auto", show_default=True,
              help="Document layout: wrapped {\"profiles\": ...} or bare {KEY: ...}; auto detects it.")
@click.option("--engine", type=click.Choice(ENGINE_NAMES), default="exact", show_default=True, help="Parse engine.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary line.")
@_friendly_errors
def convert_command(input, format, out_dir, tables, dedupe_events, layout, engine, quiet):
    """Convert the export INPUT (a path or - for stdin; plain or gzip) into tables in --out."""
    table_list = None
    if tables is not None:
        table_list = [t.strip() for t in tables.split(",") if t.strip()]
        bad = [t for t in table_list if t not in TABLES]
        if bad or not table_list:
            raise click.BadParameter(f"choose from {', '.join(TABLES)}", param_hint="--tables")
    if format not in sink_names():
        raise click.BadParameter(f"choose from {', '.join(sink_names())}", param_hint="--to")
    bar = _ProgressBar() if not quiet and sys.stderr.isatty() else None
    try:
        summary = convert(input, out_dir, format=format, tables=table_list, engine=engine, layout=layout,
                          dedupe=dedupe_events, progress=bar)
    finally:
        if bar is not None:
            bar.end()
    if not quiet:
        click.echo(f"apsis-export: {summary}", err=True)
        for name, path in summary.outputs.items():
            click.echo(f"  {path}", err=True)


@main.command("generate")
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--size", default="100MB", show_default=True, help="Approximate JSON size: 200MB, 2GB, 1GiB...")
@click.option("--gzip", "compress", is_flag=True, help="Write gzip (the size is of the JSON inside).")
@click.option("--seed", default=0, show_default=True, help="Same seed, same bytes.")
@click.option("--layout", type=click.Choice(["wrapped", "bare"]), default="wrapped", show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="Do not print the counts.")
@_friendly_errors
def generate_command(out, size, compress, seed, layout, quiet):
    """Write a synthetic export to OUT, for trying things out and benchmarks."""
    stats = generate(out, size=_parse_size(size), gzip=compress, seed=seed, layout=layout)
    if not quiet:
        click.echo(
            f"{stats.path}: {stats.bytes_json:,} bytes of JSON; {stats.profiles:,} profiles, "
            f"{stats.sections:,} sections, {stats.attributes:,} attributes ({stats.tags:,} tags), "
            f"{stats.events:,} events",
            err=True,
        )
