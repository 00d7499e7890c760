"""``apsis-export fetch``: request an export from the API, wait for it, convert and/or save it."""

from __future__ import annotations

import logging
import sys
from contextlib import contextmanager

import click

from .._convert import fetch_and_convert
from ..fetch import EXPORT_PATH, SAVE_MODE, ExportRequest, HttpSettings
from ._api import api_options
from ._common import FileMode, convert_options, friendly_errors, load_names, print_summary, run_with_progress

_SECONDS = click.FloatRange(min=0, min_open=True)
_REQUEST_OPTIONS = ("segment_filter", "attributes", "tags", "events", "start_at", "end_at")


_CONVERT_ONLY = ("format", "tables", "dedupe_events", "input_layout", "engine", "jobs", "names", "metadata")


@click.command("fetch")
@api_options
@click.option(
    "--segment-filter", metavar="TEXT", help="Only this segment's profiles [default: all profiles]."
)
@click.option(
    "--attribute",
    "attributes",
    multiple=True,
    metavar="ID",
    help="Attribute to export (repeatable, up to 75).",
)
@click.option("--tag", "tags", multiple=True, metavar="ID", help="Tag to export (repeatable, up to 25).")
@click.option(
    "--event",
    "events",
    multiple=True,
    metavar="ID",
    help="Event type to export (repeatable; needs --start-at).",
)
@click.option(
    "--start-at",
    metavar="TIME",
    help="Start of the event window, ISO 8601 (2024-05-01T00:00:00Z; no offset = UTC).",
)
@click.option(
    "--end-at",
    metavar="TIME",
    help="End of the event window [default: --start-at + 7 days; at most 3 months].",
)
@click.option(
    "--body-json",
    type=click.File("rb"),
    metavar="FILE",
    help="Send this request body as is (checked first) instead of building one; - for stdin.",
)
@click.option("--poll-url", metavar="URL", help="Skip the request: wait on an existing export's poll URL.")
@click.option(
    "--save",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Keep the downloaded file, as sent (gzip unless --no-gzip).",
)
@click.option(
    "--save-mode",
    type=FileMode(),
    default=f"{SAVE_MODE:o}",
    show_default=True,
    help="Permissions of the --save file, octal. Owner-only by default: an export holds personal "
    "data (profile keys are often e-mail addresses).",
)
@convert_options(out_required=False)
@click.option(
    "--poll-interval",
    type=_SECONDS,
    default=2.0,
    show_default=True,
    metavar="SECONDS",
    help="First wait between polls; it doubles (with jitter) up to --max-poll-interval.",
)
@click.option(
    "--max-poll-interval",
    type=_SECONDS,
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="Longest wait between polls.",
)
@click.option(
    "--max-wait",
    type=_SECONDS,
    default=4 * 3600.0,
    show_default=True,
    metavar="SECONDS",
    help="Give up waiting after this long (exit 7); the poll URL stays valid for a day. "
    "Also the longest Retry-After any call obeys (a longer one fails at once).",
)
@click.option(
    "--retries",
    type=click.IntRange(min=0),
    default=5,
    show_default=True,
    help="Retries of a call after connection errors and 5xx answers.",
)
@click.option(
    "--restarts",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Restarts of a download whose body was cut.",
)
@click.option(
    "--timeout",
    type=_SECONDS,
    default=120.0,
    show_default=True,
    metavar="SECONDS",
    help="Read timeout: a connection silent this long fails (a silent body counts as cut).",
)
@click.option(
    "--no-gzip", is_flag=True, help="Ask for an uncompressed body (default: Accept-Encoding: gzip)."
)
@click.option(
    "--export-path",
    default=EXPORT_PATH,
    show_default=True,
    metavar="PATH",
    help="Path of the export request endpoint (inferred from the documentation).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress, log lines or summary; errors only.")
@friendly_errors
def fetch_command(
    connect,
    body_json,
    poll_url,
    save,
    save_mode,
    convert_kwargs,
    names,
    metadata,
    poll_interval,
    max_poll_interval,
    max_wait,
    retries,
    restarts,
    timeout,
    no_gzip,
    export_path,
    quiet,
    **request_options,
):
    """Request a profile export, wait until it is ready, and convert it (--out) and/or save it (--save).

    Exit codes beyond 0/1/2/130: 3 credentials refused, 4 API error or unreachable,
    5 export gone or invalid (410), 6 export failed on the server (503),
    7 not ready within --max-wait, 8 download cut more often than --restarts.
    """
    ctx = click.get_current_context()
    flags = {param.name: param.opts[0] for param in ctx.command.params}
    out_dir = convert_kwargs["out_dir"]
    if out_dir is None and save is None:
        raise click.UsageError("give --out DIR to convert, --save FILE to keep the file, or both")
    if out_dir is None:
        given = [
            name
            for name in _CONVERT_ONLY
            if ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT
        ]
        if given:
            raise click.UsageError(f"{flags[given[0]]} needs --out")
    if save is None and ctx.get_parameter_source("save_mode") != click.core.ParameterSource.DEFAULT:
        raise click.UsageError("--save-mode needs --save")
    requested = [name for name in _REQUEST_OPTIONS if request_options[name]]
    if (poll_url or body_json) and requested:
        raise click.UsageError(
            f"{flags[requested[0]]} cannot go with {'--poll-url' if poll_url else '--body-json'}"
        )
    if poll_url and body_json:
        raise click.UsageError("--body-json cannot go with --poll-url")
    if body_json is getattr(sys.stdin, "buffer", None) and ctx.params.get("client_secret_file") == "-":
        raise click.UsageError("--body-json and --client-secret-file cannot both read stdin")
    try:
        settings = HttpSettings(
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            max_wait=max_wait,
            retries=retries,
            download_retries=restarts,
            read_timeout=timeout,
            gzip=not no_gzip,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    api = connect(settings, export_path=export_path)
    if poll_url:
        api.check_url(poll_url, "--poll-url")  # before anything is sent, metadata for --names included
    request = body_json.read() if body_json else ExportRequest(**request_options)

    with api, _log_to_stderr(not quiet):
        convert_kwargs["names"] = load_names(names, metadata, api=api)
        export = poll_url or request  # the request's attribute and tag lists give the wide layout's columns
        if out_dir is not None:
            summary = run_with_progress(
                quiet,
                lambda bar: fetch_and_convert(
                    api, export, save=save, save_mode=save_mode, progress=bar, **convert_kwargs
                ),
            )
            if not quiet:
                print_summary(summary)
        else:
            api.download(poll_url or api.request_export(request), save, mode=save_mode)
    if save is not None and not quiet:
        click.echo(f"apsis-export: saved {save}", err=True)


class _EchoHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        clear = "\r\x1b[K" if sys.stderr.isatty() else ""  # over a progress bar's line, if one is shown
        click.echo(f"{clear}apsis-export: {record.getMessage()}", err=True)


@contextmanager
def _log_to_stderr(enabled: bool):
    """The fetch log lines (requested, waiting, ready, restarting) on stderr while the command runs."""
    if not enabled:
        yield
        return
    logger = logging.getLogger("apsis_export.fetch")
    handler, level = _EchoHandler(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
