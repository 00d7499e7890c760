"""The API connection options, shared by the commands that talk to APSIS One."""

from __future__ import annotations

from functools import wraps

import click

from ..fetch import REGIONS, Client, HttpSettings


def api_options(command):
    """--base-url, --region, --client-id, --client-secret; the command receives ``connect``,
    a function ``connect(settings=None, **client_kwargs) -> Client`` that checks them first."""

    @wraps(command)
    def wrapper(*args, base_url, region, client_id, client_secret, **kwargs):
        def connect(settings: HttpSettings | None = None, **client_kwargs) -> Client:
            if not client_id:
                raise click.UsageError("no client ID: pass --client-id or set APSIS_CLIENT_ID")
            if not client_secret:
                raise click.UsageError("no client secret: set APSIS_CLIENT_SECRET (or pass --client-secret)")
            try:
                return Client(base_url, region=region, client_id=client_id, client_secret=client_secret,
                              settings=settings or HttpSettings(), **client_kwargs)
            except ValueError as exc:
                raise click.UsageError(str(exc)) from None

        return command(*args, connect=connect, **kwargs)

    options = [
        click.option("--base-url", metavar="URL", default=None,
                     help=f"API base URL [default: {REGIONS['eu']}, or {REGIONS['apac']} with --region apac]."),
        click.option("--region", type=click.Choice(list(REGIONS)), default="eu", show_default=True,
                     help="Which region's API, when --base-url is not given."),
        click.option("--client-id", envvar="APSIS_CLIENT_ID", metavar="ID", help="API client ID [env: APSIS_CLIENT_ID]."),
        click.option("--client-secret", envvar="APSIS_CLIENT_SECRET", metavar="SECRET",
                     help="API client secret; better set APSIS_CLIENT_SECRET (an option shows in the process list). "
                          "Never printed."),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper
