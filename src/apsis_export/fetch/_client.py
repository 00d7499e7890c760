"""The APSIS One client: token, export request, polling, download, conversion, metadata.

HTTP is urllib3 2.x with its own retries switched off (but for redirects): the
retry decisions below follow the export documentation, not generic rules.
Progress is logged on the ``apsis_export.fetch`` logger (INFO); the secret and
the token never are.
"""

from __future__ import annotations

import logging
import math
import os
import random
import time
from contextlib import ExitStack
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, TypeVar
from urllib.parse import quote, urlsplit

import orjson
import urllib3
from urllib3.exceptions import ConnectTimeoutError, HTTPError, MaxRetryError

from .._convert import LAYOUTS, ConvertSummary, convert, needs_first_pass
from .._errors import OptionsError
from .._wide import PROFILES, WideSchema
from .._source import Source
from ._auth import Secret, jwt_expiry
from ._body import ExportStream, SavedBody, _reason
from ._errors import (
    ApiError,
    AuthError,
    DownloadError,
    ExportFailedError,
    ExportGoneError,
    WaitTimeoutError,
)
from ._request import ExportRequest, encode_body, find_poll_url

log = logging.getLogger("apsis_export.fetch")

#: Base URL of each region's API.
REGIONS = {"eu": "https://api.apsis.one", "apac": "https://api-apac.apsis.one"}
#: Where exports are requested (inferred from the documentation site, hence configurable).
EXPORT_PATH = "/audience/profiles/exports"

_T = TypeVar("_T")
_MAX_ERROR_BODY = 64 * 1024
_MAX_ANSWER = 64 * 1024 * 1024  # token, export request and metadata answers


@dataclass(frozen=True)
class HttpSettings:
    """Timing and retry settings; the defaults suit the real API, tests scale them down.

    Waits start at ``poll_interval``, grow by ``backoff_factor`` up to
    ``max_poll_interval``, and each is scaled by a random factor in
    ``[1 - jitter, 1 + jitter]`` (capped at ``max_poll_interval``). A ``Retry-After``
    header is honoured as it is. The same schedule spaces polls and retries.
    """

    poll_interval: float = 2.0  # first wait, seconds
    max_poll_interval: float = 60.0
    backoff_factor: float = 2.0
    jitter: float = 0.2
    max_wait: float = 4 * 3600.0  # give up polling after this many seconds
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
    ...     api.fetch_and_convert(poll_url, "tables/", format="parquet")

    ``base_url`` defaults to the ``region``'s (``eu`` or ``apac``). The token is
    fetched on first use, cached until shortly before its JWT ``exp``, and renewed
    once when a call answers 401 or 403.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        region: str = "eu",
        client_id: str,
        client_secret: str,
        settings: HttpSettings | None = None,
        export_path: str = EXPORT_PATH,
    ):
        if region not in REGIONS:
            raise ValueError(f"region must be one of {', '.join(REGIONS)}, not {region!r}")
        from .. import __version__

        self.base_url = (base_url or REGIONS[region]).rstrip("/")
        if urlsplit(self.base_url).scheme not in ("http", "https"):
            raise ValueError(f"base URL must start with https:// (or http://), not {self.base_url!r}")
        self.client_id = client_id
        self._secret = Secret(client_secret)
        self.settings = settings or HttpSettings()
        self.export_url = self.base_url + "/" + export_path.lstrip("/")
        self._http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=self.settings.connect_timeout, read=self.settings.read_timeout),
            retries=urllib3.Retry(total=None, connect=0, read=0, status=0, other=0, redirect=5),
        )
        self._user_agent = f"apsis-export/{__version__}"
        self._token: str | None = None
        self._token_renew_at = 0.0

    def __repr__(self) -> str:
        return f"Client(base_url={self.base_url!r}, client_id={self.client_id!r})"

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
            lambda: self._authorized("POST", self.export_url, body=body, headers={"Content-Type": "application/json"}),
            idempotent=False,
        )
        payload = self._ok(response, "the export request")
        poll_url = find_poll_url(payload, self.export_url, response.headers.get("Location"))
        log.info("export requested; poll URL %s", poll_url)
        return poll_url

    def wait(self, poll_url: str) -> ExportStream:
        """Poll until the export is ready; return its body as a stream (close it when done).

        404 and 202 mean not ready; 429 waits ``Retry-After``; connection errors and
        5xx are retried ``retries`` times in a row; 410 raises
        :class:`ExportGoneError`, 503 :class:`ExportFailedError`, and still not
        ready after ``max_wait`` :class:`WaitTimeoutError`.
        """
        s = self.settings
        headers = {"Accept-Encoding": "gzip" if s.gzip else "identity"}
        start = time.monotonic()
        polls = self._backoff()
        failures = 0
        while True:
            try:
                response = self._authorized("GET", poll_url, headers=headers, decode_content=False)
            except HTTPError as exc:
                failures += 1
                state = f"poll failed ({_reason(exc)})"
                if failures > s.retries:
                    raise ApiError(f"cannot reach the poll URL after {failures} tries: {_reason(exc)}") from None
                delay = next(polls)
            else:
                status = response.status
                if 200 <= status < 300 and status != 202:
                    stream = ExportStream(response, poll_url)
                    length = stream.content_length
                    size = f"{length:,} bytes" if length is not None else "size unknown"
                    log.info(
                        "export ready after %.1f s; downloading (%s%s)",
                        time.monotonic() - start, size, ", gzip" if stream.compressed else "",
                    )
                    return stream
                detail = _problem(_read(response))
                if status in (404, 202):
                    failures = 0
                    state, delay = f"export not ready (HTTP {status})", next(polls)
                elif status == 429:
                    failures = 0
                    after = retry_after(response.headers.get("Retry-After"))
                    state = "rate limited (HTTP 429" + (f", Retry-After {after:g} s)" if after is not None else ")")
                    delay = after if after is not None else next(polls)
                elif status == 410:
                    raise ExportGoneError(
                        f"export gone or invalid (HTTP 410: {detail}); a poll URL is valid for one day"
                    )
                elif status == 503:
                    raise ExportFailedError(f"export failed on the server; request a new one (HTTP 503: {detail})")
                elif status >= 500:
                    failures += 1
                    state = f"poll failed (HTTP {status}: {detail})"
                    if failures > s.retries:
                        raise ApiError(f"the poll URL failed {failures} times in a row: HTTP {status}: {detail}",
                                       status=status)
                    delay = next(polls)
                else:
                    raise ApiError(f"the poll URL answered HTTP {status}: {detail}", status=status)
            waited = time.monotonic() - start
            remaining = s.max_wait - waited
            if remaining <= 0:
                raise WaitTimeoutError(
                    f"export still not ready after {waited:.0f} s (the maximum wait); "
                    f"resume with the poll URL {poll_url}",
                    poll_url=poll_url,
                )
            delay = min(delay, remaining)
            log.info("%s; waited %.1f s; next poll in %.1f s", state, waited, delay)
            time.sleep(delay)

    def download(self, poll_url: str, path: str | os.PathLike[str]) -> Path:
        """Wait for the export and save its body, as sent (gzip stays gzip), to ``path``.

        The body goes to ``path.part`` and is renamed once complete and verified
        (Content-Length, and a complete gzip stream); a cut body restarts from the poll URL
        up to ``download_retries`` times. Nothing is left behind on failure.
        """
        self._restarting(poll_url, None, path)
        return Path(path)

    def fetch_and_convert(
        self,
        export: str | ExportRequest | Mapping[str, Any] | bytes,
        out_dir: str | os.PathLike[str],
        *,
        save: str | os.PathLike[str] | None = None,
        **options: Any,
    ) -> ConvertSummary:
        """Convert an export while it downloads: same contract as :func:`apsis_export.convert`.

        ``export`` is a poll URL, or a request to send first (see :meth:`request_export`).
        ``options`` are :func:`~apsis_export.convert`'s keyword arguments (format, tables,
        names, jobs, progress...). ``save`` also keeps the body, as :meth:`download` does.
        A cut body restarts the download and the conversion (whose outputs were
        discarded) from the poll URL.

        The wide layout takes its columns from an :class:`ExportRequest`'s attributes and
        tags (named and typed with ``names``). Where columns must be discovered instead
        (split events; a poll URL or raw body without ``names``), the body is saved to
        ``save`` first and that file converted: ``save`` is then required.
        """
        options = dict(options)
        if (isinstance(export, ExportRequest) and (export.attributes or export.tags) and options.get("schema") is None
                and (PROFILES in (options.get("tables") or LAYOUTS[options.get("layout", "long")]))):
            options["schema"] = WideSchema.from_request(export.attributes, export.tags, options.get("names"))
        first_pass = needs_first_pass(options.get("layout", "long"), options.get("tables"),
                                      options.get("split_events", False), options.get("schema"), options.get("names"))
        if first_pass and save is None:
            raise OptionsError("these tables need a first pass over the whole file to find their columns: "
                               "save the download (--save FILE / save=) and it is converted from there")
        poll_url = export if isinstance(export, str) else self.request_export(export)
        if first_pass:
            self.download(poll_url, save)
            return convert(save, out_dir, **options)

        def job(body, stream: ExportStream) -> ConvertSummary:
            source = Source(body, name=poll_url, total_bytes=stream.content_length, closer=ExitStack())
            return convert(source, out_dir, **options)

        return self._restarting(poll_url, job, save)

    def _restarting(self, poll_url: str, job: Callable[[Any, ExportStream], _T] | None, save) -> _T | None:
        """Run ``job`` on the body (and/or save it), from the poll URL again after a cut."""
        attempts = self.settings.download_retries + 1
        for attempt in range(1, attempts + 1):
            stream = self.wait(poll_url)
            saved = None
            try:
                with stream:
                    if save is not None:
                        saved = SavedBody(stream, save, check_gzip=job is None)
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
                    raise DownloadError(f"{exc}; gave up after {attempts} attempts; nothing was kept") from None
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
        response = self._retrying(what, lambda: self._authorized("GET", self.base_url + path), idempotent=True)
        data = _json(self._ok(response, what), what)
        items = data.get("items") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise ApiError(f"{what}: the answer has no 'items' list")
        return items

    # ---- plumbing ----------------------------------------------------------------------

    def _access_token(self, *, renew: bool = False) -> str:
        if not renew and self._token is not None and time.time() < self._token_renew_at:
            return self._token
        url = self.base_url + "/oauth/token"
        body = orjson.dumps(
            {"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self._secret.reveal()}
        )
        response = self._retrying(
            "the token request",
            lambda: self._send("POST", url, body=body, headers={"Content-Type": "application/json"}),
            idempotent=True,
        )
        if response.status in (400, 401, 403):
            raise AuthError(f"the credentials were refused (HTTP {response.status}: {_problem(_read(response))})")
        data = _json(self._ok(response, "the token request"), "the token request")
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthError("the token endpoint answered without an access_token")
        expires = jwt_expiry(token)
        if expires is None and isinstance(data.get("expires_in"), (int, float)):
            expires = time.time() + data["expires_in"]
        self._token = token
        self._token_renew_at = expires - self.settings.token_margin if expires is not None else math.inf
        return token

    def _authorized(self, method: str, url: str, *, headers: Mapping[str, str] | None = None, **kwargs: Any):
        """One call with the bearer token; on 401/403 the token is renewed and the call made once more."""
        def send(token: str):
            return self._send(method, url, headers={**(headers or {}), "Authorization": f"Bearer {token}"}, **kwargs)

        response = send(self._access_token())
        if response.status in (401, 403):
            _read(response)
            response = send(self._access_token(renew=True))
            if response.status in (401, 403):
                raise AuthError(
                    f"not authorized even with a new token (HTTP {response.status}: {_problem(_read(response))})"
                )
        return response

    def _send(self, method: str, url: str, *, headers: Mapping[str, str], **kwargs: Any) -> urllib3.BaseHTTPResponse:
        """One HTTP call; the answer is not preloaded: read it with :func:`_read` (or stream it)."""
        return self._http.request(method, url, headers={"User-Agent": self._user_agent, **headers},
                                  preload_content=False, **kwargs)

    def _retrying(self, what: str, send: Callable[[], urllib3.BaseHTTPResponse], *, idempotent: bool):
        """Call ``send`` again after connection errors, 429 (honouring Retry-After) and 5xx, ``retries`` times.

        Not idempotent: connection errors are retried only when nothing was sent.
        The last answer is returned whatever its status.
        """
        delays = self._backoff()
        for attempt in range(self.settings.retries + 1):
            last = attempt == self.settings.retries
            try:
                response = send()
            except HTTPError as exc:
                if last or not (idempotent or _nothing_sent(exc)):
                    raise ApiError(f"{what} failed: {_reason(exc)}") from None
                state, delay = f"{what} failed ({_reason(exc)})", next(delays)
            else:
                if last or not (response.status == 429 or response.status >= 500):
                    return response
                detail = _problem(_read(response))
                after = retry_after(response.headers.get("Retry-After")) if response.status == 429 else None
                state = f"{what} answered HTTP {response.status} ({detail})"
                delay = after if after is not None else next(delays)
            log.info("%s; retry %d of %d in %.1f s", state, attempt + 1, self.settings.retries, delay)
            time.sleep(delay)
        raise AssertionError("unreachable")

    def _ok(self, response: urllib3.BaseHTTPResponse, what: str) -> bytes:
        """The body of a 2xx answer; an ApiError naming the problem otherwise."""
        if not 200 <= response.status < 300:
            raise ApiError(f"{what} was refused (HTTP {response.status}: {_problem(_read(response))})",
                           status=response.status)
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
