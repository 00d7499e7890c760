"""The export request body: built from fields or taken as is, validated before sending;
and the poll URL found in the answer.

What the product documentation states is checked here (events need ``start_at``,
``end_at`` defaults to a week later, a window of at most three months, at most 75
attributes and 25 tags, at least one of them). The inner shapes of the lists are
not documented: fields are sent as lists of ID strings, and a caller who needs
another shape passes the body through.
"""

from __future__ import annotations

import re
from calendar import monthrange
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urljoin

import orjson

from ._errors import ApiError, ExportRequestError

MAX_ATTRIBUTES = 75
MAX_TAGS = 25
MAX_WINDOW_MONTHS = 3
DEFAULT_WINDOW = timedelta(days=7)
#: The API answers 413 to larger bodies.
MAX_BODY_BYTES = 100_000

TimeLike = str | datetime


@dataclass(frozen=True)
class ExportRequest:
    """What to export. :meth:`body` gives the validated JSON body.

    IDs are sent as given (strings, duplicates dropped); times are ISO 8601 strings
    or datetimes (naive ones are taken as UTC) and are sent as UTC RFC 3339.
    """

    attributes: Sequence[str] = ()
    tags: Sequence[str] = ()
    events: Sequence[str] = ()
    segment_filter: str | None = None
    start_at: TimeLike | None = None
    end_at: TimeLike | None = None

    def body(self) -> dict[str, Any]:
        """The request body; ``end_at`` defaults to ``start_at`` + 7 days. Raises ExportRequestError."""
        body: dict[str, Any] = {}
        if self.segment_filter is not None:
            body["segment_filter"] = self.segment_filter
        for name in ("attributes", "tags", "events"):
            ids = list(dict.fromkeys(getattr(self, name)))
            if ids:
                body[name] = ids
        if self.start_at is not None:
            start = parse_time(self.start_at, "start_at")
            end = parse_time(self.end_at, "end_at") if self.end_at is not None else start + DEFAULT_WINDOW
            body["start_at"], body["end_at"] = format_time(start), format_time(end)
        elif self.end_at is not None:
            raise ExportRequestError("end_at needs start_at")
        check_body(body)
        return body


def encode_body(request: ExportRequest | Mapping[str, Any] | bytes) -> bytes:
    """The bytes to POST: an ExportRequest's body, a mapping as JSON, or bytes as they are.

    Whatever the form, the body is checked with :func:`check_body` first.
    """
    if isinstance(request, ExportRequest):
        return orjson.dumps(request.body())
    if isinstance(request, (bytes, bytearray)):
        data = bytes(request)
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise ExportRequestError(f"the request body is not valid JSON: {exc}") from None
        check_body(parsed)
        return data
    body = dict(request)
    check_body(body)
    return orjson.dumps(body)


def check_body(body: Any) -> None:
    """Check what the documentation states about a request body; raise ExportRequestError."""
    if not isinstance(body, Mapping):
        raise ExportRequestError("the request body must be a JSON object")
    attributes, tags = _count(body.get("attributes")), _count(body.get("tags"))
    if attributes > MAX_ATTRIBUTES:
        raise ExportRequestError(f"{attributes} attributes asked; an export holds at most {MAX_ATTRIBUTES}")
    if tags > MAX_TAGS:
        raise ExportRequestError(f"{tags} tags asked; an export holds at most {MAX_TAGS}")
    if attributes + tags == 0:
        raise ExportRequestError(
            "ask for at least one attribute or tag: without one, no profile appears in the export"
        )
    start_at, end_at = body.get("start_at"), body.get("end_at")
    if _count(body.get("events")) and start_at in (None, ""):
        raise ExportRequestError("start_at is required when events are asked")
    if start_at not in (None, ""):
        start = parse_time(start_at, "start_at")
        end = parse_time(end_at, "end_at") if end_at not in (None, "") else start + DEFAULT_WINDOW
        if end <= start:
            raise ExportRequestError(
                f"end_at ({format_time(end)}) must be after start_at ({format_time(start)})"
            )
        if end > add_months(start, MAX_WINDOW_MONTHS):
            raise ExportRequestError(
                f"the event window {format_time(start)} to {format_time(end)} is longer than {MAX_WINDOW_MONTHS} months"
            )
    elif end_at not in (None, ""):
        raise ExportRequestError("end_at needs start_at")
    size = len(orjson.dumps(dict(body)))
    if size > MAX_BODY_BYTES:
        raise ExportRequestError(
            f"the request body is {size:,} bytes; the API refuses more than {MAX_BODY_BYTES:,}"
        )


def _count(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, (list, tuple, dict)):
        return len(value)
    return 1


def parse_time(value: Any, name: str) -> datetime:
    """An ISO 8601 date or date-time (``Z`` or an offset; none means UTC) as an aware UTC datetime."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        text = value.strip()
        if text[-1:] in ("Z", "z"):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ExportRequestError(
                f"{name} {value!r} is not an ISO 8601 time like 2024-05-01T00:00:00Z"
            ) from None
    else:
        raise ExportRequestError(f"{name} must be an ISO 8601 string, not {type(value).__name__}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def format_time(moment: datetime) -> str:
    """UTC RFC 3339 with a ``Z``: ``2024-05-01T00:00:00Z``."""
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` calendar months later (the day clamped to the month's end)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, monthrange(year, month)[1]))


_URL = re.compile(rb"https?://[^\s\"'<>\\]+")
POLL_URL_FIELDS = ("file_download_url", "file_download_url_v2")


def find_poll_url(payload: bytes, request_url: str, location: str | None = None) -> str:
    """The poll URL in the answer to the export request.

    Looked for in ``file_download_url``, then ``file_download_url_v2``, then as the
    only absolute URL anywhere in the body, then in a ``Location`` header. Relative
    URLs are resolved against ``request_url``.
    """
    try:
        data: Any = orjson.loads(payload)
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        for field in POLL_URL_FIELDS:
            value = data.get(field)
            if isinstance(value, str) and value.strip():
                return urljoin(request_url, value.strip())
    if data is not None:
        urls = [u for u in _strings(data) if u.startswith(("http://", "https://")) and " " not in u]
    else:
        urls = [m.decode("utf-8", "replace") for m in _URL.findall(payload)]
    urls = list(dict.fromkeys(urls))
    if len(urls) == 1:
        return urls[0]
    if not urls and location:
        return urljoin(request_url, location)
    shown = payload[:300].decode("utf-8", "replace").replace("\n", " ")
    if urls:
        raise ApiError(
            f"the export was requested but its answer holds {len(urls)} URLs and no {POLL_URL_FIELDS[0]}: "
            f"{', '.join(urls)}; wait on the right one with --poll-url"
        )
    raise ApiError(
        f"the export was requested but no poll URL was found in the answer "
        f"(no {' or '.join(POLL_URL_FIELDS)}, no absolute URL): {shown!r}"
    )


def _strings(value: Any) -> Iterator[str]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item.strip()
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
