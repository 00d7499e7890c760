"""What can go wrong while talking to the API; each outcome has its own exit code."""

from __future__ import annotations

from .._errors import ApsisExportError


class FetchError(ApsisExportError):
    """Base class of the fetch errors. ``exit_code`` is what the CLI exits with."""

    exit_code = 4


class ExportRequestError(FetchError, ValueError):
    """The export request is invalid; caught before anything was sent."""

    exit_code = 2


class InsecureUrlError(FetchError, ValueError):
    """A URL would carry credentials or the export over plain HTTP to a host that is not
    loopback; refused before any request (``allow_http`` lifts it)."""

    exit_code = 2


class AuthError(FetchError):
    """The credentials were refused, or a fresh token was still not authorized."""

    exit_code = 3


class ApiError(FetchError):
    """The API refused a call, answered something unusable, or stayed unreachable
    after the bounded retries. ``status`` is the last HTTP status, if any."""

    exit_code = 4

    def __init__(self, message: str, *, status: int | None = None):
        self.status = status
        super().__init__(message)


class ExportGoneError(FetchError):
    """The poll URL answered 410: the export is gone (older than a day) or the ID is invalid."""

    exit_code = 5


class ExportFailedError(FetchError):
    """The poll URL answered 503: the export failed on the server; request a new one."""

    exit_code = 6


class WaitTimeoutError(FetchError):
    """The export was still not ready after ``max_wait`` seconds; ``poll_url`` resumes it."""

    exit_code = 7

    def __init__(self, message: str, *, poll_url: str):
        self.poll_url = poll_url
        super().__init__(message)


class DownloadError(FetchError):
    """The body was cut (connection closed, stalled, or shorter than Content-Length)."""

    exit_code = 8
