"""The API connection options, shared by the commands that talk to APSIS One."""

from __future__ import annotations

from functools import wraps

import click

from ..fetch import REGIONS, Client, HttpSettings, InsecureUrlError


def api_options(command):
    """--base-url, --region, --client-id, --client-secret(-file), --allow-http; the command receives
    ``connect``, a function ``connect(settings=None, **client_kwargs) -> Client`` that checks them first."""

    @wraps(command)
    def wrapper(*args, base_url, region, client_id, client_secret, client_secret_file, allow_http, **kwargs):
        ctx = click.get_current_context()

        def connect(settings: HttpSettings | None = None, **client_kwargs) -> Client:
            if not client_id:
                raise click.UsageError("no client ID: pass --client-id or set APSIS_CLIENT_ID")
            secret = _client_secret(ctx, client_secret, client_secret_file)
            try:
                return Client(
                    base_url,
                    region=region,
                    client_id=client_id,
                    client_secret=secret,
                    settings=settings or HttpSettings(),
                    allow_http=allow_http,
                    **client_kwargs,
                )
            except InsecureUrlError:
                raise  # one line and exit 2, from friendly_errors
            except ValueError as exc:
                raise click.UsageError(str(exc)) from None

        return command(*args, connect=connect, **kwargs)

    options = [
        click.option(
            "--base-url",
            metavar="URL",
            default=None,
            help=f"API base URL [default: {REGIONS['eu']}, or {REGIONS['apac']} with --region apac]. "
            "https:// only, but for loopback hosts (localhost, 127.0.0.0/8, ::1).",
        ),
        click.option(
            "--region",
            type=click.Choice(list(REGIONS)),
            default="eu",
            show_default=True,
            help="Which region's API, when --base-url is not given.",
        ),
        click.option(
            "--client-id",
            envvar="APSIS_CLIENT_ID",
            metavar="ID",
            help="API client ID [env: APSIS_CLIENT_ID].",
        ),
        click.option(
            "--client-secret-file",
            envvar="APSIS_CLIENT_SECRET_FILE",
            metavar="PATH",
            type=click.Path(dir_okay=False, allow_dash=True),
            help="Read the API client secret from this file (- for stdin; surrounding whitespace "
            "ignored) [env: APSIS_CLIENT_SECRET_FILE].",
        ),
        click.option(
            "--client-secret",
            envvar="APSIS_CLIENT_SECRET",
            metavar="SECRET",
            help="API client secret [env: APSIS_CLIENT_SECRET]; on the command line it is visible "
            "to other users (process list): prefer the variable or --client-secret-file. "
            "Never printed.",
        ),
        click.option(
            "--allow-http",
            is_flag=True,
            help="Allow plain http:// URLs to hosts other than loopback. This sends the client "
            "secret, the bearer token and the export (personal data) unencrypted, readable "
            "and alterable by anyone on the network path.",
        ),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


def _client_secret(ctx: click.Context, secret: str | None, secret_file: str | None) -> str:
    """The secret from --client-secret-file, else --client-secret / APSIS_CLIENT_SECRET.

    An option given on the command line wins over a variable; both options there is
    a usage error. A secret on the command line gets a warning: any user sees it in ps.
    """
    source = ctx.get_parameter_source
    from_line = click.core.ParameterSource.COMMANDLINE
    if secret_file is not None and secret is not None:
        if source("client_secret_file") == from_line and source("client_secret") == from_line:
            raise click.UsageError("give --client-secret or --client-secret-file, not both")
        if source("client_secret") == from_line:
            secret_file = None
        else:
            secret = None
    if secret_file is not None:
        name = "stdin" if secret_file == "-" else secret_file  # noqa: S105 (a file name, not a secret)
        try:
            with click.open_file(secret_file, "r", encoding="utf-8") as stream:
                secret = stream.read().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise click.UsageError(
                f"cannot read the client secret from {name}: {getattr(exc, 'strerror', None) or exc}"
            ) from exc
        if not secret:
            raise click.UsageError(f"no client secret in {name}")
    elif not secret:
        raise click.UsageError("no client secret: set APSIS_CLIENT_SECRET or pass --client-secret-file PATH")
    elif source("client_secret") == from_line:
        click.echo(
            "apsis-export: warning: --client-secret on the command line is visible to other users of this "
            "machine (process list, shell history); use --client-secret-file or APSIS_CLIENT_SECRET",
            err=True,
        )
    return secret
