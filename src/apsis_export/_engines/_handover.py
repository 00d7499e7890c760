"""Handing the rest of a document over from the fast path to the exact engine.

Anything out of the ordinary -- a member msgspec refuses (a lone surrogate escape,
invalid UTF-8, invalid JSON), nesting near the depth limit, a malformed skeleton,
truncation -- hands the rest of the document, from the start of that member, to the exact
engine, which then yields what it yields or raises the error it raises, with offsets into
the original input. The exact engine reads a short ``context`` first (the JSON that
recreates where the member stands), then the input from the member on. So the fast path
never produces a result the exact engine would not.
"""

from __future__ import annotations

from collections.abc import Iterator

import msgspec

from .._errors import InputError
from .._records import Profile
from .._shape import BARE
from .._source import Source
from ._exact import DEPTH_ERROR, walk_document
from ._scan import PROFILES

#: Contexts: what the exact engine reads before the input handed over, to stand where it stands.
START = b""  # the document from its first byte
IN_TOP = b"{"  # between members of the top object
IN_PROFILES = b'{"profiles":{'  # between the profiles of the wrapped layout
AFTER_PROFILES = b'{"profiles":{}'  # after the profiles member's value, in the top object
AFTER_DOCUMENT = b"{}"  # after the top object: only whitespace may follow


class Handover(Exception):
    """The fast path meets something it leaves to the exact engine: the rest of the
    input from ``start``, read after a ``context`` that recreates where it stands."""

    def __init__(
        self,
        start: int,
        context: bytes,
        layout: str,
        *,
        auto_detected: bool,
        placeholder: bytes = b"",
    ):
        self.start, self.context, self.layout, self.auto_detected = start, context, layout, auto_detected
        # After a comma, a placeholder member keeps the comma meaningful (a trailing one is an
        # error); its profile is dropped. In "profiles" it repeats the previous key, which the
        # exact engine names in errors found at the comma.
        self.placeholder = placeholder
        # Where the member handed over passes the exact engine's depth limit, when the scan
        # found it: the exact engine's depth error is put there (see _depth_error_at).
        self.too_deep: int | None = None

    def prefix(self, previous_key: str) -> bytes:
        """What the exact engine reads before the input handed over (the key of the profile
        before: that of the placeholder member, if any)."""
        if not self.placeholder:
            return self.context
        key = msgspec.json.encode(previous_key if self.context.startswith(IN_PROFILES) else "")
        return self.context + key + self.placeholder


def member_handover(
    split: int, start: int, *, after_comma: bool, layout: str, auto_detected: bool
) -> Handover:
    """The handover for the member at ``start`` of the top object (``split`` TOP) or of
    profiles (PROFILES); ``after_comma``: it follows a comma, not its container's open."""
    context = IN_PROFILES if split == PROFILES else IN_TOP
    if after_comma:
        # the value of the placeholder: an empty profile, or a top-level extra's number
        placeholder = b":{}" if split == PROFILES or layout == BARE else b":0"
        return Handover(start - 1, context, layout, auto_detected=auto_detected, placeholder=placeholder)
    return Handover(start, context, layout, auto_detected=auto_detected)


def resume(source: Source, handover: Handover, pending: bytes, previous_key: str) -> Iterator[Profile]:
    """The exact engine's profiles from the handover point on: ``pending`` holds the input
    from ``handover.start`` that was read already, ``source`` the rest."""
    resumed = _Resumed(source, handover.prefix(previous_key), pending, handover.start)
    rest = walk_document(resumed, handover.layout, auto_detected=handover.auto_detected)  # type: ignore[arg-type]
    if handover.placeholder:
        next(rest, None)
    return rest if handover.too_deep is None else _depth_error_at(rest, handover.too_deep)


def _depth_error_at(profiles: Iterator[Profile], offset: int) -> Iterator[Profile]:
    """The exact engine's profiles, its depth error placed at ``offset``: the byte where the
    scan saw nesting pass the limit (the exact engine only knows the chunk it was reading)."""
    try:
        yield from profiles
    except InputError as exc:
        if exc.problem == DEPTH_ERROR:
            exc.offset = offset
        raise


class _Resumed:
    """The exact engine's view of the input: ``prefix`` + the bytes from ``start`` on.

    Offsets are shifted so errors point into the original input.
    """

    def __init__(self, source: Source, prefix: bytes, pending: bytes, start: int):
        self._source = source
        self._head = prefix + pending
        self._head_pos = 0
        self._shift = start - len(prefix)
        self._offset = 0
        self._last = b""
        self.name, self.total_bytes, self.compressed = source.name, source.total_bytes, source.compressed

    @property
    def bytes_read(self) -> int:
        return self._source.bytes_read

    @property
    def json_offset(self) -> int:
        return self._shift + self._offset

    @property
    def last_chunk(self) -> tuple[int, bytes]:
        return self.json_offset - len(self._last), self._last

    def read(self, size: int = -1) -> bytes:
        if self._head_pos < len(self._head):
            end = len(self._head) if size < 0 else self._head_pos + size
            data = self._head[self._head_pos : end]
            self._head_pos += len(data)
        else:
            data = self._source.read(size)
        self._last = data
        self._offset += len(data)
        return data
