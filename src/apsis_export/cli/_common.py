"""What every command shares: error handling, the progress bar, the convert options."""

from __future__ import annotations

import sys
import traceback
from functools import partial, wraps

import click

from .._engines import DEFAULT_ENGINE
from .._errors import ApsisExportError
from .._metadata import Metadata
from .._modes import EngineName, IfExists, InputLayout, Layout, Mode
from .._pipeline import LAYOUT_TABLES, TABLE_NAMES
from .._progress import Progress
from ..outputs import FILE_MODE, format_names

EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130


def fail(message: str, code: int = EXIT_FAILURE) -> None:
    click.echo(f"apsis-export: error: {message}", err=True)
    sys.exit(code)


def friendly_errors(command):
    """Turn expected errors into one line on stderr and an exit code (traceback with --debug)."""

    @wraps(command)
    def wrapper(*args, debug: bool = False, **kwargs):
        try:
            return command(*args, **kwargs)
        except ApsisExportError as exc:
            if debug:
                traceback.print_exc()
            fail(str(exc), getattr(exc, "exit_code", EXIT_FAILURE))
        except KeyboardInterrupt:
            if debug:
                traceback.print_exc()
            fail("interrupted; nothing was written", EXIT_INTERRUPTED)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:  # a bug of ours: still one line, unless asked for more
            if debug:
                traceback.print_exc()
            fail(f"unexpected {type(exc).__name__}: {exc} (this is a bug; --debug shows the traceback)")

    return click.option("--debug", is_flag=True, help="Show a traceback on errors.")(wrapper)


def mode_values(mode: type[Mode]) -> list[str]:
    """A mode's names as click choices (click matches an enum's member names, LONG, not long)."""
    return [member.value for member in mode]


def parse_size(text: str) -> int:
    units = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}
    number = text.strip().upper().rstrip("S")
    digits = number.rstrip("KMGIB")
    unit = number[len(digits) :]
    try:
        return int(float(digits) * units[unit])
    except (ValueError, KeyError):
        raise click.BadParameter(f"{text!r} is not a size like 200MB, 2GB or 1GiB") from None


class FileMode(click.ParamType):
    """Octal permission bits: 600, 0640, 0o640."""

    name = "MODE"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        text = str(value).strip().lower().removeprefix("0o")
        try:
            mode = int(text, 8)
        except ValueError:
            mode = -1
        if not 0 <= mode <= 0o777:
            self.fail(f"{value!r} is not octal permission bits like 600 or 640", param, ctx)
        return mode


class ProgressBar:
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
        click.echo(
            f"\r{head}  {rate:,.1f} MB/s  {p.profiles:,} profiles  {p.rows:,} rows\x1b[K", err=True, nl=False
        )
        self._shown = True

    def end(self) -> None:
        if self._shown:
            click.echo("\r\x1b[K", err=True, nl=False)


def convert_options(command=None, *, out_required: bool = True):
    """The options that choose what a conversion writes: shared by every command that converts.

    The command receives ``convert_kwargs``: the keyword arguments for
    :func:`apsis_export.convert` (format, out_dir, tables, layout, split_events, strict_types,
    engine, input_layout, dedupe, jobs, partition_by, max_rows_per_file, if_exists, file_mode),
    and ``names`` / ``metadata`` to resolve with :func:`load_names`.
    Use as ``@convert_options``, or ``@convert_options(out_required=False)`` where
    converting is optional (``out_dir`` is then None without ``--out``).
    """
    if command is None:
        return partial(convert_options, out_required=out_required)

    @wraps(command)
    def wrapper(
        *args,
        format,
        out_dir,
        tables,
        layout,
        split_events,
        strict_types,
        dedupe_events,
        input_layout,
        engine,
        jobs,
        partition_by,
        max_rows_per_file,
        if_exists,
        file_mode,
        **kwargs,
    ):
        table_list = None
        if tables is not None:
            table_list = [t.strip() for t in tables.split(",") if t.strip()]
            if not table_list or any(t not in TABLE_NAMES for t in table_list):
                raise click.BadParameter(f"choose from {', '.join(TABLE_NAMES)}", param_hint="--tables")
        if format not in format_names():
            raise click.BadParameter(f"choose from {', '.join(format_names())}", param_hint="--to")
        partitions = [c.strip() for c in (partition_by or "").split(",") if c.strip()]
        convert_kwargs = dict(
            format=format,
            out_dir=out_dir,
            tables=table_list,
            layout=layout,
            split_events=split_events,
            strict_types=strict_types,
            engine=engine,
            input_layout=input_layout,
            dedupe=dedupe_events,
            jobs=jobs,
            partition_by=partitions,
            max_rows_per_file=max_rows_per_file,
            if_exists=if_exists,
            file_mode=file_mode,
        )
        return command(*args, convert_kwargs=convert_kwargs, **kwargs)

    options = [
        click.option(
            "--to",
            "format",
            default="parquet",
            show_default=True,
            metavar="FORMAT",
            help=f"Output format: {', '.join(format_names())} (or a plugged-in sink); delta: a Delta "
            "table per table, appended to (needs apsis-export[delta]).",
        ),
        click.option(
            "--out",
            "out_dir",
            required=out_required,
            metavar="DIR|URI",
            help="Directory for the tables (created if missing), local or a URI: s3://bucket/prefix, "
            "gs://, abfs://, or any fsspec protocol (credentials from the environment; "
            "e.g. ?endpoint_override=HOST:PORT&scheme=http). Files appear when the run completes.",
        ),
        click.option(
            "--partition-by",
            metavar="COLUMNS",
            default=None,
            help="Write each table as a Parquet dataset with hive partitions by these comma-separated "
            "columns (of the tables that have them; created_date, the UTC date of created_at, for "
            "events). Files are named after the input.",
        ),
        click.option(
            "--max-rows-per-file",
            type=click.IntRange(min=1),
            default=None,
            metavar="N",
            help="Write each table as a Parquet dataset of files of at most N rows.",
        ),
        click.option(
            "--if-exists",
            type=click.Choice(mode_values(IfExists)),
            default="error",
            show_default=True,
            help="What to do with a table or dataset file already there: fail before writing, "
            "overwrite it (and this input's other files in a dataset), or skip (keep it).",
        ),
        click.option(
            "--file-mode",
            type=FileMode(),
            default=f"{FILE_MODE:o}",
            show_default=True,
            help="Permissions of the files written on a local disk, octal. Owner-only by default: an "
            "export holds personal data (profile keys are often e-mail addresses).",
        ),
        click.option(
            "--layout",
            type=click.Choice(mode_values(Layout)),
            default="long",
            show_default=True,
            help="long: an attributes table, one row per attribute; wide: a profiles table, one row "
            "per profile and section with a typed column per attribute and tag.",
        ),
        click.option(
            "--tables",
            default=None,
            metavar="LIST",
            help=f"Comma-separated tables from {','.join(TABLE_NAMES)} [default: "
            f"{' or '.join(','.join(t) for t in LAYOUT_TABLES.values())} by --layout, "
            f"plus extras when unknown keys occur].",
        ),
        click.option(
            "--split-events",
            is_flag=True,
            help="One events_<type> table per event type, the data fields as typed columns.",
        ),
        click.option(
            "--strict-types",
            is_flag=True,
            help="Fail on a value that does not fit its column's type (default: leave it null, count it).",
        ),
        click.option(
            "--dedupe-events",
            is_flag=True,
            help="Drop events whose correlationId repeats within a profile+section.",
        ),
        click.option(
            "--input-layout",
            type=click.Choice(mode_values(InputLayout)),
            default="auto",
            show_default=True,
            help='Document layout: wrapped {"profiles": ...} or bare {KEY: ...}; auto detects it.',
        ),
        click.option(
            "--engine",
            type=click.Choice(mode_values(EngineName)),
            default=DEFAULT_ENGINE.value,
            show_default=True,
            help="Parse engine.",
        ),
        click.option(
            "--jobs",
            "-j",
            type=click.IntRange(min=1),
            default=None,
            show_default="auto",
            help="Worker processes that decode and encode profiles (fast engine, built-in formats). "
            "auto: one process where the compiled step does a plain conversion (it uses two "
            "cores already), else all cores. With many inputs: files converted at once, one per "
            "worker process (auto: one per core).",
        ),
        click.option(
            "--names",
            is_flag=True,
            help="Add name columns (section_name, attribute_name, is_tag, declared_type, type_name) "
            "and values typed as declared, from metadata; wide columns are named.",
        ),
        click.option(
            "--metadata",
            type=click.Path(exists=True, dir_okay=False),
            metavar="FILE",
            help="Definitions for --names, saved by 'apsis-export metadata --save FILE'.",
        ),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


def load_names(names: bool, metadata: str | None, *, api=None) -> Metadata | None:
    """The metadata for --names: from --metadata FILE, else from the API when a client is given."""
    if metadata and not names:
        raise click.UsageError("--metadata goes with --names")
    if not names:
        return None
    if metadata:
        return Metadata.load(metadata)
    if api is None:
        raise click.UsageError(
            "--names needs --metadata FILE (save one with 'apsis-export metadata --save FILE')"
        )
    return Metadata.from_api(api)


def run_with_progress(quiet: bool, job):
    """Run ``job(progress)`` with a progress bar on a terminal stderr (none when quiet)."""
    bar = ProgressBar() if not quiet and sys.stderr.isatty() else None
    try:
        return job(bar)
    finally:
        if bar is not None:
            bar.end()


def print_summary(summary) -> None:
    """The one-line run summary and the files written, on stderr."""
    click.echo(f"apsis-export: {summary}", err=True)
    for path in summary.outputs.values():
        click.echo(f"  {path}", err=True)
