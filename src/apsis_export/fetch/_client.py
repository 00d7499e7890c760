"""The APSIS One client: token, export request, polling, download, metadata. It fetches; what
is done with the body while it downloads is the caller's (``apsis_export.fetch_and_convert``).

HTTP is urllib3 2.x with its own retries and redirects switched off: the retry
decisions below follow the export documentation, not generic rules, and each
redirect hop is checked like the first URL (HTTPS, and the token only on the
API's own origin). Progress is logged on the ``apsis_export.fetch`` logger
(INFO); the secret and the token never are.
"""

from __future__ import annotations

import logging
import math
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urljoin

import orjson
import urllib3
from urllib3.exceptions import ConnectTimeoutError, HTTPError, MaxRetryError

from .._source import Source
from .._version import __version__
from ._auth import Secret, SecretSource, jwt_expiry
from ._body import ExportStream, SavedBody, _reason
from ._errors import (
    ApiError,
    AuthError,
    DownloadError,
    ExportFailedError,
    ExportGoneError,
    WaitTimeoutError,
)
from ._origin import check_transport, origin, shown
from ._request import ExportRequest, encode_body, find_poll_url

log = logging.getLogger("apsis_export.fetch")

#: Base URL of each region's API.
REGIONS = {"eu": "https://api.apsis.one", "apac": "https://api-apac.apsis.one"}
#: Where exports are requested (inferred from the documentation site, hence configurable).
EXPORT_PATH = "/audience/profiles/exports"

_T = TypeVar("_T")
_MAX_ERROR_BODY = 64 * 1024
_MAX_ANSWER = 64 * 1024 * 1024  # token, export request and metadata answers
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
#: Default permissions of a saved export: owner-only, since an export holds personal data.
SAVE_MODE = 0o600


@dataclass(frozen=True)
class HttpSettings:
    """Timing and retry settings; the defaults suit the real API, tests scale them down.

    Waits start at ``poll_interval``, grow by ``backoff_factor`` up to
    ``max_poll_interval``, and each is scaled by a random factor in
    ``[1 - jitter, 1 + jitter]`` (capped at ``max_poll_interval``). A ``Retry-After``
    header is honoured, but no server-chosen wait goes beyond ``max_wait``: polling
    stops at ``max_wait`` in all, and a call told to wait longer than ``max_wait``
    fails at once. The same schedule spaces polls and retries.
    """

    poll_interval: float = 2.0  # first wait, seconds
    max_poll_interval: float = 60.0
    backoff_factor: float = 2.0
    jitter: float = 0.2
    max_wait: float = 4 * 3600.0  # give up polling after this long; also the longest Retry-After obeyed
    retries: int = 5  # per call, after connection errors, 5xx, and 429 outside polling
    download_retries: int = 3  # restarts from the poll URL after a cut body
    connect_timeout: float = 10.0
    read_timeout: float = 120.0  # a response silent this long counts as a connection error / cut body
    token_margin: float = 60.0  # renew the token this long before its exp
    gzip: bool = True  # send Accept-Encoding: gzip when polling

    def __post_init__(self) -> None:
        for name in ("poll_interval", "max_poll_interval", "max_wait", "connect_timeout", "read_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        if self.max_poll_interval < self.poll_interval:
            raise ValueError("max_poll_interval must be at least poll_interval")
        if self.backoff_factor < 1 or not 0 <= self.jitter < 1:
            raise ValueError("backoff_factor must be >= 1 and jitter in [0, 1)")
        if self.retries < 0 or self.download_retries < 0 or self.token_margin < 0:
            raise ValueError("retries, download_retries and token_margin must not be negative")


class Client:
    """An APSIS One API client for profile exports.

    >>> with Client(client_id="...", client_secret="...") as api:
    ...     poll_url = api.request_export(ExportRequest(attributes=["10462"]))
    ...     api.download(poll_url, "export.json.gz")

    ``base_url`` defaults to the ``region``'s (``eu`` or ``apac``). The token is
    fetched on first use, cached until shortly before its JWT ``exp``, and renewed
    once when a call to the API answers 401 or 403.

    ``client_secret`` is the secret, or a function returning it (called at each token
    request, its answer not kept: read it from a file, a keyring or a vault).

    Where credentials go: everything is HTTPS, but for loopback hosts (``localhost``,
    127.0.0.0/8, ::1); a plain ``http://`` URL elsewhere, as the base URL, a poll URL
    or a redirect, raises :class:`InsecureUrlError` before any request, unless
    ``allow_http`` (which sends the secret, the token and the export unencrypted).
    The bearer token goes only to the API's origin (scheme, host and port of
    ``base_url``); a poll URL or redirect elsewhere (e.g. a pre-signed storage URL)
    is fetched without it. POST requests (token, export request) follow no redirects.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        region: str = "eu",
        client_id: str,
        client_secret: SecretSource,
        settings: HttpSettings | None = None,
        export_path: str = EXPORT_PATH,
        allow_http: bool = False,
    ):
        if region not in REGIONS:
            raise ValueError(f"region must be one of {', '.join(REGIONS)}, not {region!r}")
        self.base_url = (base_url or REGIONS[region]).rstrip("/")
        #: Plain HTTP allowed to hosts other than loopback.
        self.allow_http = allow_http
        self._origin = check_transport(self.base_url, allow_http=allow_http, what="the API base URL")
        self.client_id = client_id
        self._secret = Secret(client_secret)
        self.settings = settings or HttpSettings()
        self.export_url = self.base_url + "/" + export_path.lstrip("/")
        self._http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=self.settings.connect_timeout, read=self.settings.read_timeout),
            retries=urllib3.Retry(total=None, connect=0, read=0, status=0, other=0, redirect=False),
        )
        self._user_agent = f"apsis-export/{__version__}"
        self._token: Secret | None = None
        self._token_renew_at = 0.0

    def __repr__(self) -> str:
        return f"Client(base_url={self.base_url!r}, client_id={self.client_id!r})"

    def check_url(self, url: str, what: str = "the poll URL") -> None:
        """Raise :class:`InsecureUrlError` if ``url`` is plain HTTP to a host other than
        loopback (and ``allow_http`` is off); called before a poll URL is used."""
        check_transport(url, allow_http=self.allow_http, what=what)

    def close(self) -> None:
        """Close the pooled connections."""
        self._http.clear()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # ---- the export cycle ------------------------------------------------------------

    def request_export(self, request: ExportRequest | Mapping[str, Any] | bytes) -> str:
        """Request an export; return its poll URL (valid for a day).

        ``request`` is an :class:`ExportRequest`, or a body passed through as it is
        (a mapping, or JSON bytes); either is validated before anything is sent.
        """
        body = encode_body(request)
        response = self._retrying(
            "the export request",
            lambda: self._authorized(
                "POST", self.export_url, body=body, headers={"Content-Type": "application/json"}
            ),
            idempotent=False,
        )
        payload = self._ok(response, "the export request")
        poll_url = find_poll_url(payload, self.export_url, response.headers.get("Location"))
        log.info("export requested; poll URL %s", poll_url)
        return poll_url

    def wait(self, poll_url: str) -> ExportStream:
        """Poll until the export is ready; return its body as a stream (close it when done).

        404 and 202 mean not ready; 429 waits ``Retry-After`` (never past ``max_wait``);
        connection errors and 5xx are retried ``retries`` times in a row; 401/403 renew
        the token once on the API's origin and raise :class:`AuthError` elsewhere; 410 raises
        :class:`ExportGoneError`, 503 :class:`ExportFailedError`, and still not
        ready after ``max_wait`` :class:`WaitTimeoutError`.
        """
        self.check_url(poll_url)
        s = self.settings
        headers = {"Accept-Encoding": "gzip" if s.gzip else "identity"}
        start = time.monotonic()
        polls = self._backoff()
        failures = 0
        after = None
        while True:
            try:
                response = self._authorized("GET", poll_url, headers=headers, decode_content=False)
            except HTTPError as exc:
                status = None
                failures += 1
                state = f"poll failed ({_reason(exc)})"
                if failures > s.retries:
                    raise ApiError(
                        f"cannot reach the poll URL after {failures} tries: {_reason(exc)}"
                    ) from None
                delay = next(polls)
            else:
                status = response.status
                if 200 <= status < 300 and status != 202:
                    stream = ExportStream(response, poll_url)
                    length = stream.content_length
                    size = f"{length:,} bytes" if length is not None else "size unknown"
                    log.info(
                        "export ready after %.1f s; downloading (%s%s)",
                        time.monotonic() - start,
                        size,
                        ", gzip" if stream.compressed else "",
                    )
                    return stream
                detail = self._detail(response)
                if status in (404, 202):
                    failures = 0
                    state, delay = f"export not ready (HTTP {status})", next(polls)
                elif status == 429:
                    failures = 0
                    after = retry_after(response.headers.get("Retry-After"))
                    state = "rate limited (HTTP 429" + (
                        f", Retry-After {after:g} s)" if after is not None else ")"
                    )
                    delay = after if after is not None else next(polls)
                elif status == 410:
                    raise ExportGoneError(
                        f"export gone or invalid (HTTP 410: {detail}); a poll URL is valid for one day"
                    )
                elif status == 503:
                    raise ExportFailedError(
                        f"export failed on the server; request a new one (HTTP 503: {detail})"
                    )
                elif status >= 500:
                    failures += 1
                    state = f"poll failed (HTTP {status}: {detail})"
                    if failures > s.retries:
                        raise ApiError(
                            f"the poll URL failed {failures} times in a row: HTTP {status}: {detail}",
                            status=status,
                        )
                    delay = next(polls)
                else:
                    raise ApiError(f"the poll URL answered HTTP {status}: {detail}", status=status)
            waited = time.monotonic() - start
            remaining = s.max_wait - waited
            if remaining <= 0 or (status == 429 and after is not None and after > remaining):
                told = f"; the API asks to wait {after:,.0f} s more" if remaining > 0 else ""
                raise WaitTimeoutError(
                    f"export still not ready after {waited:.0f} s (the maximum wait is {s.max_wait:g} s{told}); "
                    f"resume with the poll URL {poll_url}",
                    poll_url=poll_url,
                )
            delay = min(delay, remaining)
            log.info("%s; waited %.1f s; next poll in %.1f s", state, waited, delay)
            time.sleep(delay)

    def download(self, poll_url: str, path: str | os.PathLike[str], *, mode: int = SAVE_MODE) -> Path:
        """Wait for the export and save its body, as sent (gzip stays gzip), to ``path``.

        The body goes to ``path.part`` and is renamed once complete and verified
        (Content-Length, and a complete gzip stream); a cut body restarts from the poll URL
        up to ``download_retries`` times. Nothing is left behind on failure. The file is
        created with permissions ``mode``: owner-only (0o600) by default, since an
        export holds personal data.
        """
        self._restarting(poll_url, None, path, mode)
        return Path(path)

    def read_while_downloading(
        self,
        poll_url: str,
        read: Callable[[Source], _T],
        *,
        save: str | os.PathLike[str] | None = None,
        save_mode: int = SAVE_MODE,
    ) -> _T:
        """Wait for the export and return ``read(source)``, ``source`` being its body as it
        downloads (gzip is detected as for a file); ``save`` also keeps the body, as
        :meth:`download` does (with permissions ``save_mode``).

        A body cut off reaches ``read`` as a :class:`DownloadError` raised by the source: the
        download then restarts from the poll URL and ``read`` runs again on the new body, up to
        ``download_retries`` times, so ``read`` must leave nothing behind when it fails (as
        :func:`apsis_export.convert` does: see :func:`apsis_export.fetch_and_convert`).
        """

        def job(body: Any, stream: ExportStream) -> _T:
            return read(Source(body, name=poll_url, total_bytes=stream.content_length, closer=ExitStack()))

        return self._restarting(poll_url, job, save, save_mode)

    def _restarting(
        self, poll_url: str, job: Callable[[Any, ExportStream], _T] | None, save, save_mode: int
    ) -> _T | None:
        """Run ``job`` on the body (and/or save it), from the poll URL again after a cut."""
        attempts = self.settings.download_retries + 1
        for attempt in range(1, attempts + 1):
            stream = self.wait(poll_url)
            saved = None
            try:
                with stream:
                    if save is not None:
                        saved = SavedBody(stream, save, check_gzip=job is None, mode=save_mode)
                    # A cut reaches the converter as a DownloadError from read() (or, where
                    # the HTTP framing cannot tell, as truncated JSON or gzip) while it still
                    # parses, so before its tables are in place; the saved file is read to
                    # its end and verified before it is renamed.
                    result = job(saved or stream, stream) if job is not None else None
                    if saved is not None:
                        saved.commit()
                return result
            except DownloadError as exc:
                if saved is not None:
                    saved.discard()
                if attempt == attempts:
                    raise DownloadError(
                        f"{exc}; gave up after {attempts} attempts; nothing was kept"
                    ) from None
                log.warning("%s; restarting from the poll URL (attempt %d of %d)", exc, attempt + 1, attempts)
            except BaseException:
                if saved is not None:
                    saved.discard()
                raise
        raise AssertionError("unreachable")

    # ---- metadata ----------------------------------------------------------------------

    def sections(self) -> list[dict[str, Any]]:
        """The account's sections: ``{"id", "discriminator", "name"}`` each."""
        return self._items("/audience/sections")

    def attributes(self, section: str) -> list[dict[str, Any]]:
        """A section's attributes (``discriminator``, ``name``, ``versions``...); ``section`` is its discriminator."""
        return self._items(f"/audience/sections/{quote(section, safe='')}/attributes")

    def tags(self, section: str) -> list[dict[str, Any]]:
        """A section's tags; ``section`` is its discriminator."""
        return self._items(f"/audience/sections/{quote(section, safe='')}/tags")

    def events(self, section: str) -> list[dict[str, Any]]:
        """A section's event types (with their version IDs); ``section`` is its discriminator."""
        return self._items(f"/audience/sections/{quote(section, safe='')}/events")

    def _items(self, path: str) -> list[dict[str, Any]]:
        what = f"GET {path}"
        response = self._retrying(
            what, lambda: self._authorized("GET", self.base_url + path), idempotent=True
        )
        data = _json(self._ok(response, what), what)
        items = data.get("items") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise ApiError(f"{what}: the answer has no 'items' list")
        return items

    # ---- plumbing ----------------------------------------------------------------------

    def _access_token(self, *, renew: bool = False) -> str:
        if not renew and self._token is not None and time.time() < self._token_renew_at:
            return self._token.reveal()
        url = self.base_url + "/oauth/token"
        body = orjson.dumps(
            {
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self._secret.reveal(),
            }
        )
        response = self._retrying(
            "the token request",
            lambda: self._send("POST", url, body=body, headers={"Content-Type": "application/json"})[0],
            idempotent=True,
        )
        if response.status in (400, 401, 403):
            raise AuthError(
                f"the credentials were refused (HTTP {response.status}: {self._detail(response)})"
            )
        data = _json(self._ok(response, "the token request"), "the token request")
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthError("the token endpoint answered without an access_token")
        expires = jwt_expiry(token)
        if expires is None and isinstance(data.get("expires_in"), (int, float)):
            expires = time.time() + data["expires_in"]
        self._token = Secret(token)
        self._token_renew_at = expires - self.settings.token_margin if expires is not None else math.inf
        return token

    def _authorized(self, method: str, url: str, *, headers: Mapping[str, str] | None = None, **kwargs: Any):
        """One call with the bearer token where it goes to the API's origin, and without it elsewhere.

        A 401/403 from the API's origin renews the token and repeats the call once; one
        from another origin (no token was sent there) raises :class:`AuthError` saying so.
        """
        response, answered_by = self._send(method, url, headers=headers or {}, authorize=True, **kwargs)
        if response.status in (401, 403) and origin(answered_by) == self._origin:
            _read(response)
            self._access_token(renew=True)
            response, answered_by = self._send(method, url, headers=headers or {}, authorize=True, **kwargs)
            if response.status in (401, 403) and origin(answered_by) == self._origin:
                raise AuthError(
                    f"not authorized even with a new token (HTTP {response.status}: {self._detail(response)})"
                )
        if response.status in (401, 403):
            raise AuthError(
                f"{origin(answered_by)} answered HTTP {response.status} ({self._detail(response)}) to a request "
                f"sent without the API token: the token goes only to the API's origin ({self._origin}); "
                f"a pre-signed download URL may have expired (request a new export), or if that host is the "
                f"API's own, give it as the base URL"
            )
        return response

    def _send(
        self, method: str, url: str, *, headers: Mapping[str, str], authorize: bool = False, **kwargs: Any
    ) -> tuple[urllib3.BaseHTTPResponse, str]:
        """One HTTP call; returns the answer (not preloaded: read it with :func:`_read` or stream it)
        and the URL that gave it.

        Redirects of a GET are followed here, each hop checked like the first URL: HTTPS
        (or loopback, or ``allow_http``), and with ``authorize`` the bearer token only on
        the API's origin. A POST follows none (its body may hold the secret).
        """
        first = url
        for hop in range(_MAX_REDIRECTS + 1):
            where = check_transport(
                url,
                allow_http=self.allow_http,
                what="the URL" if hop == 0 else f"a redirect from {shown(first)} to",
            )
            sent = {"User-Agent": self._user_agent, **headers}
            if authorize and where == self._origin:
                sent["Authorization"] = f"Bearer {self._access_token()}"
            response = self._http.request(
                method, url, headers=sent, preload_content=False, redirect=False, **kwargs
            )
            location = response.headers.get("Location")
            if method != "GET" or response.status not in _REDIRECTS or not location:
                return response, url
            _read(response)
            url = urljoin(url, location.strip())
        raise ApiError(f"more than {_MAX_REDIRECTS} redirects from {shown(first)}")

    def _retrying(self, what: str, send: Callable[[], urllib3.BaseHTTPResponse], *, idempotent: bool):
        """Call ``send`` again after connection errors, 429 (honouring Retry-After) and 5xx, ``retries`` times.

        Not idempotent: connection errors are retried only when nothing was sent. A
        Retry-After longer than ``max_wait`` fails at once rather than sleeping that long.
        The last answer is returned whatever its status.
        """
        s = self.settings
        delays = self._backoff()
        for attempt in range(s.retries + 1):
            last = attempt == s.retries
            try:
                response = send()
            except HTTPError as exc:
                if last or not (idempotent or _nothing_sent(exc)):
                    raise ApiError(f"{what} failed: {_reason(exc)}") from None
                state, delay = f"{what} failed ({_reason(exc)})", next(delays)
            else:
                if last or not (response.status == 429 or response.status >= 500):
                    return response
                detail = self._detail(response)
                after = retry_after(response.headers.get("Retry-After")) if response.status == 429 else None
                state = f"{what} answered HTTP {response.status} ({detail})"
                if after is not None and after > s.max_wait:
                    raise ApiError(
                        f"{state} and asks to wait {after:,.0f} s, longer than the maximum wait "
                        f"({s.max_wait:,.0f} s); try again later",
                        status=response.status,
                    )
                delay = after if after is not None else next(delays)
            log.info("%s; retry %d of %d in %.1f s", state, attempt + 1, s.retries, delay)
            time.sleep(delay)
        raise AssertionError("unreachable")

    def _detail(self, response: urllib3.BaseHTTPResponse) -> str:
        """A one-line summary of an error answer, with the token and secret masked should the server echo them."""
        secrets = [secret for secret in (self._token, self._secret) if secret is not None]
        raw = _read(response).decode("utf-8", "replace")
        for secret in secrets:  # before the summary cuts it, which could leave a token's first part
            raw = secret.mask(raw)
        text = _problem(raw.encode())
        for secret in secrets:  # and after JSON unescaping
            text = secret.mask(text)
        return text

    def _ok(self, response: urllib3.BaseHTTPResponse, what: str) -> bytes:
        """The body of a 2xx answer; an ApiError naming the problem otherwise."""
        if not 200 <= response.status < 300:
            raise ApiError(
                f"{what} was refused (HTTP {response.status}: {self._detail(response)})",
                status=response.status,
            )
        payload = _read(response, _MAX_ANSWER)
        if len(payload) >= _MAX_ANSWER:
            raise ApiError(f"{what}: the answer is larger than {_MAX_ANSWER:,} bytes")
        return payload

    def _backoff(self) -> Iterator[float]:
        s = self.settings
        delay = s.poll_interval
        while True:
            yield min(delay * random.uniform(1 - s.jitter, 1 + s.jitter), s.max_poll_interval)
            delay = min(delay * s.backoff_factor, s.max_poll_interval)


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date (None if absent or unreadable)."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _nothing_sent(exc: HTTPError) -> bool:
    reason = exc.reason if isinstance(exc, MaxRetryError) else exc
    return isinstance(reason, ConnectTimeoutError)  # NewConnectionError included


def _read(response: urllib3.BaseHTTPResponse, limit: int = _MAX_ERROR_BODY) -> bytes:
    """Up to ``limit`` bytes of an answer that is not the export, decoded; the connection is released."""
    try:
        data = response.read(limit, decode_content=True)
        response.drain_conn()
    except (HTTPError, OSError):
        data = b""
    response.release_conn()
    return data


def _json(payload: bytes, what: str) -> Any:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise ApiError(f"{what}: the answer is not JSON: {payload[:200]!r}") from None


def _problem(payload: bytes) -> str:
    """A one-line summary of an error body (problem+json ``title``/``detail``, or ``message``, or the text)."""
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        parts = [str(data[k]) for k in ("title", "detail", "message") if data.get(k)]
        if parts:
            return " ".join(" — ".join(dict.fromkeys(parts)).split())[:300]
    text = " ".join(payload.decode("utf-8", "replace").split())
    return text[:300] or "no details"
