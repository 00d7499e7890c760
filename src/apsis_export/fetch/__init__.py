"""Fetch exports from the APSIS One API: request, poll, download (or read while downloading).

>>> from apsis_export.fetch import Client, ExportRequest
>>> with Client(client_id="...", client_secret="...") as api:
...     api.download(api.request_export(ExportRequest(attributes=["10462"])), "export.json.gz")

The client only fetches: converting while downloading is :func:`apsis_export.fetch_and_convert`.
"""

from ._auth import SecretSource
from ._body import ExportStream
from ._client import EXPORT_PATH, REGIONS, SAVE_MODE, Client, HttpSettings, retry_after
from ._errors import (
    ApiError,
    AuthError,
    DownloadError,
    ExportFailedError,
    ExportGoneError,
    ExportRequestError,
    FetchError,
    InsecureUrlError,
    WaitTimeoutError,
)
from ._request import ExportRequest, check_body, find_poll_url

__all__ = [
    "EXPORT_PATH",
    "REGIONS",
    "SAVE_MODE",
    "ApiError",
    "AuthError",
    "Client",
    "DownloadError",
    "ExportFailedError",
    "ExportGoneError",
    "ExportRequest",
    "ExportRequestError",
    "ExportStream",
    "FetchError",
    "HttpSettings",
    "InsecureUrlError",
    "SecretSource",
    "WaitTimeoutError",
    "check_body",
    "find_poll_url",
    "retry_after",
]
