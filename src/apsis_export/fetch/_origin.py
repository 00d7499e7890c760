"""Where credentials may go: HTTPS only (but for loopback), and the token only to the API's origin.

An origin is (scheme, host, port) as in RFC 6454: ``https://api.apsis.one`` and
``https://api.apsis.one:443/x`` are the same origin, ``http://api.apsis.one`` and
``https://files.apsis.one`` are others.
"""

from __future__ import annotations

import ipaddress
from typing import NamedTuple
from urllib.parse import urlsplit

from ._errors import InsecureUrlError

_DEFAULT_PORTS = {"http": 80, "https": 443}


class Origin(NamedTuple):
    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}" + (
            "" if _DEFAULT_PORTS.get(self.scheme) == self.port else f":{self.port}"
        )


def origin(url: str) -> Origin:
    """The (scheme, host, port) of an http(s) URL; ValueError for anything else."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {shown(url)!r}")
    return Origin(scheme, parts.hostname.lower(), parts.port or _DEFAULT_PORTS[scheme])


def is_loopback(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 or ::1: traffic that never leaves the machine."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_transport(url: str, *, allow_http: bool, what: str) -> Origin:
    """The URL's origin, after refusing plain HTTP to anything but loopback (unless ``allow_http``).

    Raises :class:`InsecureUrlError` (one line naming the URL and the fix) before any
    request is made: the bearer token, the client secret and the export (personal
    data) would travel in the clear.
    """
    try:
        where = origin(url)
    except ValueError:
        raise InsecureUrlError(f"{what} must be an https:// URL, not {shown(url)!r}") from None
    if where.scheme == "http" and not allow_http and not is_loopback(where.host):
        raise InsecureUrlError(
            f"refusing plain HTTP for {what} {shown(url)}: credentials and personal data would travel "
            f"unencrypted; use https:// (or --allow-http / allow_http=True to send them in the clear anyway)"
        )
    return where


def shown(url: str) -> str:
    """A URL fit for messages: no user info, query or fragment (a pre-signed URL's signature is a credential)."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{netloc}{parts.path}" if parts.scheme else url.split("?", 1)[0]
