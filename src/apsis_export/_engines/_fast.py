"""The fast engine: a vectorised structural scan finds each profile, msgspec decodes it.

How it works, block by block (numpy over the raw bytes):

1. find the quotes not escaped by an odd run of backslashes; their running
   parity says which bytes are inside strings;
2. of the structural bytes ``{ } [ ] ,`` outside strings, a cumulative sum
   gives the nesting depth of each;
3. a small state machine walks the few tokens that split members of the top
   object (depth 1) and of ``profiles`` (depth 2), and decodes each member —
   one profile, or one top-level key — with msgspec (numbers exact: integers of
   any size, non-integers as Decimal of the digits written).

Each decoded profile goes through the same ``_shape`` mapping as the exact
engine, so the records are identical by construction. Anything out of the
ordinary — a member msgspec refuses (a lone surrogate escape, invalid UTF-8,
invalid JSON), nesting near the depth limit, a malformed skeleton, truncation —
hands the rest of the document, from the start of that member, to the exact
engine, which then yields what it yields or raises the error it raises, with
offsets into the original input. The fast path never produces a result the
exact engine would not.
"""

from __future__ import annotations

import bisect
from decimal import Decimal
from typing import Iterator

import msgspec
import numpy as np

from .._errors import InputError
from .._records import Profile
from .._shape import AUTO, BARE, WRAPPED, WRAPPER_KEYS, document_extra, is_bare_profile, profile_records
from .._source import Source
from ._exact import MAX_DEPTH, walk_document

#: Bytes scanned per step; memory holds one block plus the profile being read.
BLOCK_SIZE = 4 * 1024 * 1024

_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_OPEN = (ord("{"), ord("["))
_LBRACE, _RBRACE, _LBRACKET, _RBRACKET, _COMMA = (ord(c) for c in "{}[],")
_WHITESPACE = b" \t\r\n"
_DECODER = msgspec.json.Decoder(float_hook=Decimal)


class _Handover(Exception):
    """The fast path meets something it leaves to the exact engine."""

    def __init__(self, start: int, prefix: bytes, layout: str, auto_detected: bool, skip_first: bool = False):
        self.start, self.prefix, self.layout, self.auto_detected = start, prefix, layout, auto_detected
        self.skip_first = skip_first  # the prefix holds a placeholder member whose profile is dropped


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


class FastEngine:
    """Default engine: several times the exact engine's speed, the same records."""

    name = "fast"

    def profiles(self, source: Source, *, layout: str = AUTO) -> Iterator[Profile]:
        scan = _Scan(source, layout)
        try:
            yield from scan.run()
        except _Handover as h:
            pending = bytes(scan.buf[h.start - scan.buf_start:])
            resumed = _Resumed(source, h.prefix, pending, h.start)
            scan.buf = bytearray()
            rest = walk_document(resumed, h.layout, auto_detected=h.auto_detected)  # type: ignore[arg-type]
            if h.skip_first:
                next(rest, None)
            yield from rest


class _Scan:
    """One pass of the fast path over one document: the block scan and the member state machine."""

    def __init__(self, source: Source, layout: str):
        self.source = source
        self.layout = layout
        self.auto_detected = False
        self.buf = bytearray()  # input bytes from buf_start on
        self.buf_start = 0
        # Scanner state carried across blocks.
        self.in_string = False
        self.backslashes = 0  # length of the backslash run ending the previous block
        self.depth = 0
        # Member state: the depth whose members are being split (1: top object, 2: profiles).
        self.split = 0
        self.member_start = -1  # offset just past the delimiter that opened the current member
        self.after_comma = False  # the current member follows a comma (not its container's open)
        self.last_key = ""  # the key of the latest member decoded
        self.closed_at = -1  # offset just past the top object's close
        self.after_profiles = -1  # offset just past the profiles object's close
        self.deep: list[int] = []  # offsets of opens nested near the depth limit

    # -- the state machine -------------------------------------------------------------------

    def handover(self, start: int | None = None, prefix: bytes = b"") -> _Handover:
        """Hand the rest over to the exact engine: from ``start`` after ``prefix``, or by default
        from the start of the current member, with the prefix that recreates its context."""
        if start is None:
            if self.split and self.member_start >= 0:
                prefix = b'{"profiles":{' if self.split == 2 else b"{"
                if self.after_comma:  # keep the comma (a trailing one is an error): resume at it, after a placeholder
                    # The placeholder repeats the previous key: the exact engine names it in errors.
                    key = msgspec.json.encode(self.last_key if self.split == 2 else "")
                    placeholder = key + (b":{}" if self.split == 2 or self.layout == BARE else b":0")
                    return _Handover(self.member_start - 1, prefix + placeholder, self.layout, self.auto_detected, True)
                start = self.member_start
            elif self.split == 1:
                start, prefix = self.after_profiles, b'{"profiles":{}'
            else:
                start, prefix = 0, b""
        return _Handover(start, prefix, self.layout, self.auto_detected)

    def run(self) -> Iterator[Profile]:
        source = self.source
        while True:
            block = source.read(BLOCK_SIZE)
            if not block:
                break
            base = source.json_offset - len(block)
            self.buf += block
            for pos, char, depth in self.tokens(block, base):
                yield from self.token(pos, char, depth)
            # Keep what a handover may need: the current member and the delimiter before it.
            keep = min(x for x in (self.member_start - 1, self.after_profiles, self.closed_at, base + len(block)) if x >= 0)
            if self.split == 0 and self.closed_at < 0:
                keep = 0  # before the top object opens, keep everything for the exact engine
            del self.buf[: keep - self.buf_start]
            self.buf_start = keep
            if self.deep and self.deep[0] < keep:
                self.deep = self.deep[bisect.bisect_left(self.deep, keep):]
        if self.closed_at < 0:  # empty, truncated or not an object: the exact engine says which
            raise self.handover()
        tail = bytes(self.buf[self.closed_at - self.buf_start:])
        if tail.strip(_WHITESPACE):
            raise self.handover(self.closed_at, b"{}")

    def token(self, pos: int, char: int, depth: int) -> Iterator[Profile]:
        """One token that may split members: an open at depth 0/1, a close back to 0/1, a comma at 1/2."""
        if char == _COMMA:
            if depth == self.split:
                yield from self.member(pos)
                self.member_start, self.after_comma = pos + 1, True
            return
        if char in _OPEN:
            if depth == 0:
                if self.split or self.closed_at >= 0 or char != _LBRACE or bytes(self.buf[: pos - self.buf_start]).strip(_WHITESPACE):
                    raise self.handover(0, b"") if self.closed_at < 0 else self.handover(self.closed_at, b"{}")
                self.split, self.member_start, self.after_comma = 1, pos + 1, False
            elif self.split == 1 and char == _LBRACE and self.layout != BARE and self.key_before(pos) == "profiles":
                if self.layout == AUTO:
                    self.layout = WRAPPED
                self.split, self.member_start, self.after_comma = 2, pos + 1, False
            return
        # A close returning to depth 0 or 1 (``depth`` is the depth after it).
        if depth == 1 and self.split == 2:
            yield from self.member(pos, last=True)
            self.split, self.member_start = 1, -1
            self.after_profiles = pos + 1
        elif depth == 0:
            if self.split != 1 or char != _RBRACE:
                raise self.handover()
            yield from self.member(pos, last=True)
            self.split, self.closed_at = 0, pos + 1

    def key_before(self, pos: int) -> str | None:
        """The key of the member whose value opens at ``pos`` (None if it cannot be read)."""
        text = bytes(self.buf[self.member_start - self.buf_start : pos - self.buf_start]).strip(_WHITESPACE)
        if not text.endswith(b":"):
            return None
        try:
            key = _DECODER.decode(text[:-1])
        except (msgspec.DecodeError, UnicodeDecodeError):
            return None
        return key if isinstance(key, str) else None

    def member(self, end: int, *, last: bool = False) -> Iterator[Profile]:
        """Decode the member from ``member_start`` to ``end`` and yield what it holds.

        A wrong shape is reported at ``end``, the delimiter just after the member.
        """
        try:
            yield from self._member(end, last)
        except InputError as exc:
            if exc.offset is None:
                exc.offset = end
            raise

    def _member(self, end: int, last: bool) -> Iterator[Profile]:
        start = self.member_start
        if start < 0:  # the rest of the profiles member: only whitespace may follow its value
            if bytes(self.buf[self.after_profiles - self.buf_start : end - self.buf_start]).strip(_WHITESPACE):
                raise self.handover(self.after_profiles, b'{"profiles":{}')
            self.after_profiles = -1
            return
        text = self.buf[start - self.buf_start : end - self.buf_start]
        if last and not self.after_comma and not bytes(text).strip(_WHITESPACE):
            return  # an empty object
        if self.deep:  # nested near the depth limit: the exact engine enforces the limit
            i = bisect.bisect_left(self.deep, start)
            if i < len(self.deep) and self.deep[i] < end:
                raise self.handover()
        try:
            decoded = _DECODER.decode(b"{" + text + b"}")
        except (msgspec.DecodeError, UnicodeDecodeError):
            raise self.handover() from None
        if len(decoded) != 1:
            raise self.handover()
        [(key, value)] = decoded.items()
        self.last_key = key
        if self.split == 2:
            yield profile_records(key, value, WRAPPED)
            return
        layout = self.layout
        if layout == AUTO and key in WRAPPER_KEYS:
            self.layout = layout = WRAPPED
        if layout == WRAPPED:
            if key == "profiles":  # a profiles value that is not an object: the exact engine's error
                raise self.handover()
            yield document_extra(key, value)
            return
        if layout == BARE and key == "profiles" and self.auto_detected:
            raise self.handover()  # ambiguous layout: the exact engine says so
        if layout == AUTO:
            self.layout = BARE if is_bare_profile(value) else WRAPPED
            self.auto_detected = True
            if self.layout == WRAPPED:
                yield document_extra(key, value)
                return
        yield profile_records(key, value, BARE)

    # -- the vectorised scan -----------------------------------------------------------------

    def tokens(self, block: bytes, base: int) -> list[tuple[int, int, int]]:
        """The member-splitting tokens of one block as (offset, byte, depth)."""
        a = np.frombuffer(block, dtype=np.uint8)
        quotes = np.flatnonzero(a == _QUOTE)
        if len(quotes):
            escaped = self._escaped(a, quotes)
            if escaped is not None:
                quotes = quotes[~escaped]
        self._carry_backslashes(a)
        structural = np.flatnonzero((a == _LBRACE) | (a == _RBRACE) | (a == _LBRACKET) | (a == _RBRACKET) | (a == _COMMA))
        # A structural byte is outside strings when an even number of real quotes precede it.
        before = np.searchsorted(quotes, structural) + (1 if self.in_string else 0)
        structural = structural[(before & 1) == 0]
        self.in_string = bool((len(quotes) + self.in_string) & 1)
        chars = a[structural]
        step = np.zeros(len(structural), dtype=np.int64)
        step[(chars == _LBRACE) | (chars == _LBRACKET)] = 1
        step[(chars == _RBRACE) | (chars == _RBRACKET)] = -1
        after = np.cumsum(step) + self.depth
        if len(after):
            self.depth = int(after[-1])
            if int(after.max()) > MAX_DEPTH - 8:
                self.deep.extend((structural[after > MAX_DEPTH - 8] + base).tolist())
        before_depth = after - step
        opens, closes, commas = step == 1, step == -1, chars == _COMMA
        keep = (opens & (before_depth <= 1)) | (closes & (after <= 1)) | (commas & ((before_depth == 1) | (before_depth == 2)))
        # An open reports the depth before it, a close the depth after it, a comma its own.
        depth = np.where(closes, after, before_depth)[keep]
        return list(zip((structural[keep] + base).tolist(), chars[keep].tolist(), depth.tolist()))

    def _escaped(self, a: np.ndarray, quotes: np.ndarray) -> np.ndarray | None:
        """Which quotes are escaped (preceded by an odd run of backslashes), or None if none are."""
        prev = quotes - 1
        candidates = np.flatnonzero(a[np.maximum(prev, 0)] == _BACKSLASH)
        candidates = candidates[prev[candidates] >= 0].tolist()
        if quotes[0] == 0 and self.backslashes & 1:
            candidates.insert(0, 0)
        if not candidates:
            return None
        escaped = np.zeros(len(quotes), dtype=bool)
        data = a
        for i in candidates:
            j = int(quotes[i]) - 1
            run = 0
            while j >= 0 and data[j] == _BACKSLASH:
                run += 1
                j -= 1
            if j < 0:
                run += self.backslashes
            escaped[i] = bool(run & 1)
        return escaped

    def _carry_backslashes(self, a: np.ndarray) -> None:
        """Remember the backslash run that ends this block (it may escape the next block's first quote)."""
        n = len(a)
        run = 0
        while run < n and a[n - 1 - run] == _BACKSLASH:
            run += 1
        self.backslashes = run + (self.backslashes if run == n else 0)
