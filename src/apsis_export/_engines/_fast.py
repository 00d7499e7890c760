"""The fast engine: a vectorised structural scan finds each profile, msgspec decodes it.

How it works, block by block (numpy over the raw bytes):

1. find the quotes not escaped by an odd run of backslashes; their running
   parity says which bytes are inside strings;
2. of the structural bytes ``{ } [ ] ,`` outside strings, a cumulative sum
   gives the nesting depth of each;
3. a small state machine walks the few tokens that split members of the top
   object (depth 1) and of ``profiles`` (depth 2), and decodes each member —
   one profile, or one top-level key — with msgspec (numbers exact: integers of
   any size, non-integers as Decimal of the digits written). A profile in the
   common shape decodes straight into typed structs (``_shape.TYPED_PROFILES``,
   checked by msgspec as it decodes); any other, into plain values.

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
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec
import numpy as np

from .._errors import InputError
from .._records import Profile
from .._shape import (
    AUTO,
    BARE,
    TYPED_PROFILES,
    WRAPPED,
    WRAPPER_KEYS,
    ColumnsInto,
    document_extra,
    is_bare_profile,
    profile_records,
    typed_profile_columns,
    typed_profile_records,
)
from .._source import Source
from . import _compiled
from ._exact import MAX_DEPTH, walk_document

#: The exact engine's error for a value nested beyond MAX_DEPTH (levels below the value's own).
DEPTH_ERROR = f"a value is nested deeper than {MAX_DEPTH} levels"

#: Bytes scanned per step; memory holds one block plus the profile being read.
BLOCK_SIZE = 1024 * 1024
#: With dispatch (--jobs), profile members are handed on in units of about this many bytes.
UNIT_BYTES = 1024 * 1024

_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_OPEN = (ord("{"), ord("["))
_LBRACE, _RBRACE, _LBRACKET, _RBRACKET, _COMMA = (ord(c) for c in "{}[],")
_WHITESPACE = b" \t\r\n"
_DECODER = msgspec.json.Decoder(float_hook=Decimal)
_TYPED_DECODERS = {
    layout: msgspec.json.Decoder(dict[str, kind], float_hook=Decimal)  # type: ignore[valid-type]  # kind: a type chosen at run time
    for layout, kind in TYPED_PROFILES.items()
}


def decode_member(text) -> tuple[str, Any] | None:
    """The (key, value) of one member's text (``"key": value``); None if msgspec refuses it."""
    try:
        decoded = _DECODER.decode(b"{" + text + b"}")
    except (msgspec.DecodeError, UnicodeDecodeError, InvalidOperation):  # an exponent no Decimal holds
        return None
    return next(iter(decoded.items())) if len(decoded) == 1 else None


def read_profile(
    text, layout: str, ambiguous: bool = False, into: ColumnsInto | None = None
) -> Profile | None:
    """The records of one profile member's text (``"key": value``) in ``layout``; None where only
    the exact engine may read it: msgspec refuses it, or (``ambiguous``) a bare profile keyed
    "profiles". A wrong shape raises InputError, as :func:`profile_records` does.

    The common shape decodes straight into typed structs; the rest as plain values. With
    ``into`` (the columnar path), a typed profile's attributes and events are appended to its
    columns instead, and the profile returned holds its key and section IDs only; with
    ``into.native``, the compiled step appends them as Arrow columns, and a profile it refuses
    comes back as records.
    """
    native = into.native if into is not None else None
    if native is not None:
        found = native.add(text, layout == WRAPPED, ambiguous)
        if found is not None:
            return Profile(*found)
        into = None
    try:
        ((key, value),) = _TYPED_DECODERS[layout].decode(b"{" + text + b"}").items()
        typed = True
    except (
        msgspec.DecodeError,
        UnicodeDecodeError,
        ValueError,
        InvalidOperation,
    ):  # ValidationError is a DecodeError
        decoded = decode_member(text)
        if decoded is None:
            return None
        key, value = decoded
        typed = False
    if ambiguous and key == "profiles":
        return None  # the exact engine reports the ambiguity
    if not typed:
        return profile_records(key, value, layout)
    if into is None:
        return typed_profile_records(key, value, layout)
    return Profile(key, typed_profile_columns(key, value, layout, into))


class _Handover(Exception):
    """The fast path meets something it leaves to the exact engine: the rest of the
    input from ``start``, read after a ``context`` that recreates where it stands."""

    def __init__(
        self, start: int, context: bytes, layout: str, auto_detected: bool, placeholder: bytes = b""
    ):
        self.start, self.context, self.layout, self.auto_detected = start, context, layout, auto_detected
        # After a comma, a placeholder member keeps the comma meaningful (a trailing one is an
        # error); its profile is dropped. In "profiles" it repeats the previous key, which the
        # exact engine names in errors found at the comma.
        self.placeholder = placeholder
        # Where the member handed over passes the exact engine's depth limit, when the scan
        # found it: the exact engine's depth error is put there (see _depth_error_at).
        self.too_deep: int | None = None

    def prefix(self, previous_key: str | None) -> bytes:
        if not self.placeholder:
            return self.context
        key = msgspec.json.encode(previous_key if self.context.startswith(b'{"profiles"') else "")
        return self.context + key + self.placeholder


def _member_handover(
    split: int, start: int, after_comma: bool, layout: str, auto_detected: bool
) -> _Handover:
    """The handover for the member of the top object (split 1) or of profiles (split 2) at ``start``."""
    context = b'{"profiles":{' if split == 2 else b"{"
    if after_comma:
        placeholder = b":{}" if split == 2 or layout == BARE else b":0"
        return _Handover(start - 1, context, layout, auto_detected, placeholder)
    return _Handover(start, context, layout, auto_detected)


def _resume(
    source: Source, handover: _Handover, pending: bytes, previous_key: str | None
) -> Iterator[Profile]:
    """The exact engine's profiles from the handover point on."""
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


@dataclass
class Unit:
    """Consecutive profile members as raw bytes, for a worker to decode (see UnitStream)."""

    start: int  # offset in the input of data[0], the delimiter before the first member
    data: bytes
    members: list[tuple[int, int, bool]]  # (start, end, after a comma) of each member, within data
    layout: str  # how each member maps: WRAPPED (a profile in "profiles") or BARE
    auto_detected: bool  # the bare layout was detected: a member keyed "profiles" is ambiguous

    def profile(self, index: int, into: ColumnsInto | None = None) -> Profile | None:
        """The records of member ``index`` (see :func:`read_profile`, also for ``into``); None when
        only the exact engine may read it."""
        start, end, _ = self.members[index]
        return read_profile(
            self.data[start:end], self.layout, self.layout == BARE and self.auto_detected, into
        )


class ResumeExact:
    """In a UnitStream: from here on the exact engine reads; ask for its profiles once
    every earlier unit is written (the previous key is then known)."""

    def __init__(self, source: Source, handover: _Handover, pending: bytes):
        self._source, self._handover, self._pending = source, handover, pending

    def profiles(self, previous_key: str) -> Iterator[Profile]:
        return _resume(self._source, self._handover, self._pending, previous_key)


class UnitStream:
    """The fast path with decoding left to others (--jobs): yields Units of profile members,
    Profiles where the main process must decode (top-level keys), and at most one
    ResumeExact where the exact engine takes over."""

    def __init__(self, source: Source, layout: str):
        self.source = source
        self.scan = _Scan(source, layout, dispatch=True)

    def __iter__(self) -> Iterator[Unit | Profile | ResumeExact]:
        scan = self.scan
        try:
            yield from scan.run()
        except _Handover as h:
            if scan.unit:
                yield scan.flush_unit()
            yield ResumeExact(self.source, h, bytes(scan.buf[h.start - scan.buf_start :]))

    def resume_at(
        self, unit: Unit, index: int, later: list[Unit], previous_key: str | None
    ) -> Iterator[Profile]:
        """The exact engine's profiles from member ``index`` of ``unit`` on (a worker could not
        decode it); ``later`` are the units dispatched after it, whose results are dropped."""
        start, _, after_comma = unit.members[index]
        split = 2 if unit.layout == WRAPPED else 1
        handover = _member_handover(split, unit.start + start, after_comma, unit.layout, unit.auto_detected)
        scan = self.scan
        tail_from = later[-1].start + len(later[-1].data) if later else unit.start + len(unit.data)
        pending = b"".join(
            [
                unit.data[handover.start - unit.start :],
                *(u.data for u in later),
                bytes(scan.buf[tail_from - scan.buf_start :]),
            ]
        )
        return _resume(self.source, handover, pending, previous_key)


class FastEngine:
    """Default engine: several times the exact engine's speed, the same records."""

    name = "fast"

    def units(self, source: Source, *, layout: str = AUTO) -> UnitStream:
        """The same walk, with profile members handed out as Units to decode elsewhere."""
        return UnitStream(source, layout)

    def profiles(
        self, source: Source, *, layout: str = AUTO, into: ColumnsInto | None = None
    ) -> Iterator[Profile]:
        """See :class:`Engine`; with ``into``, profiles of the common shape yield their attributes
        and events as columns there (see :func:`read_profile`), each before its profile is yielded."""
        scan = _Scan(source, layout, into=into)
        try:
            yield from scan.run()  # type: ignore[misc]  # Units only with dispatch (UnitStream)
        except _Handover as h:
            pending = bytes(scan.buf[h.start - scan.buf_start :])
            scan.buf = bytearray()
            yield from _resume(source, h, pending, scan.last_key)


class _Scan:
    """One pass of the fast path over one document: the block scan and the member state machine."""

    def __init__(self, source: Source, layout: str, dispatch: bool = False, into: ColumnsInto | None = None):
        self.source = source
        self.into = into  # where typed profiles map to columns (see read_profile)
        # With dispatch, profile members are not decoded here but gathered into Units.
        self.dispatch = dispatch
        self.unit: list[tuple[int, int, bool]] = []  # (start, end, after a comma) of each member
        self.unit_start = self.unit_end = -1
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
        self.last_key: str | None = ""  # the key of the latest member decoded
        self.closed_at = -1  # offset just past the top object's close
        self.after_profiles = -1  # offset just past the profiles object's close
        # Offsets where nesting passes deep_from (the first of each run between two tokens):
        # a member holding one is handed to the exact engine, which enforces the depth limit.
        self.deep: list[int] = []
        self.deep_from = MAX_DEPTH - 8
        # A second scan of the current member once it is nested near the limit: it finds the
        # byte where nesting passes the exact engine's limit (see limit_passed).
        self.probe: _Scan | None = None
        self.probe_start = self.probe_end = -1

    # -- the state machine -------------------------------------------------------------------

    def handover(self, start: int | None = None, prefix: bytes = b"") -> _Handover:
        """Hand the rest over to the exact engine: from ``start`` after ``prefix``, or by default
        from the start of the current member, with the prefix that recreates its context."""
        if start is None:
            if self.split and self.member_start >= 0:
                return _member_handover(
                    self.split, self.member_start, self.after_comma, self.layout, self.auto_detected
                )
            if self.split == 1:
                start, prefix = self.after_profiles, b'{"profiles":{}'
            else:
                start, prefix = 0, b""
        return _Handover(start, prefix, self.layout, self.auto_detected)

    def run(self) -> Iterator[Profile | Unit]:
        source = self.source
        while True:
            block = source.read(BLOCK_SIZE)
            if not block:
                break
            base = source.json_offset - len(block)
            self.buf += block
            for pos, char, depth in self.tokens(block, base):
                yield from self.token(pos, char, depth)
            if self.deep:
                self.deep_after_block(base + len(block))
            # Keep what a handover may need: the current member and the delimiter before it.
            keep = min(
                x
                for x in (
                    self.member_start - 1,
                    self.after_profiles,
                    self.closed_at,
                    base + len(block),
                    self.unit_start if self.unit else -1,
                )
                if x >= 0
            )
            if self.split == 0 and self.closed_at < 0:
                keep = 0  # before the top object opens, keep everything for the exact engine
            del self.buf[: keep - self.buf_start]
            self.buf_start = keep
        if self.closed_at < 0:  # empty, truncated or not an object: the exact engine says which
            raise self.handover()
        if self.unit:
            yield self.flush_unit()
        tail = bytes(self.buf[self.closed_at - self.buf_start :])
        if tail.strip(_WHITESPACE):
            raise self.handover(self.closed_at, b"{}")

    def token(self, pos: int, char: int, depth: int) -> Iterator[Profile | Unit]:
        """One token that may split members: an open at depth 0/1, a close back to 0/1, a comma at 1/2."""
        if char == _COMMA:
            if depth == self.split:
                yield from self.member(pos)
                self.member_start, self.after_comma = pos + 1, True
            return
        if char in _OPEN:
            if depth == 0:
                if (
                    self.split
                    or self.closed_at >= 0
                    or char != _LBRACE
                    or bytes(self.buf[: pos - self.buf_start]).strip(_WHITESPACE)
                ):
                    raise (
                        self.handover(0, b"") if self.closed_at < 0 else self.handover(self.closed_at, b"{}")
                    )
                self.split, self.member_start, self.after_comma = 1, pos + 1, False
            elif (
                self.split == 1
                and char == _LBRACE
                and self.layout != BARE
                and self.key_before(pos) == "profiles"
            ):
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

    def deep_after_block(self, end: int) -> None:
        """After a block: of the deep offsets only the current member's first is kept (earlier
        members are done with); once the byte where that member passes the depth limit is in,
        the exact engine takes over at once, which errors there: neither the member nor any
        list grows with how deep it goes."""
        start = self.member_start if self.split else -1
        i = bisect.bisect_left(self.deep, start) if start >= 0 else len(self.deep)
        self.deep = self.deep[i : i + 1]
        if self.deep and self.limit_passed(end) is not None:
            raise self.deep_handover(end)

    def limit_passed(self, end: int) -> int | None:
        """The offset where the current member's nesting passes the exact engine's limit
        (MAX_DEPTH levels below the member's value), scanning its bytes up to ``end`` (each byte
        once over the calls for one member); None if not there."""
        start = self.member_start
        if self.probe is None or self.probe_start != start:
            self.probe = _Scan(self.source, self.layout)
            self.probe.depth, self.probe.deep_from = self.split, self.split + MAX_DEPTH
            self.probe_start = self.probe_end = start
        probe = self.probe
        if end > self.probe_end and not probe.deep:
            probe.tokens(
                bytes(self.buf[self.probe_end - self.buf_start : end - self.buf_start]), self.probe_end
            )
            self.probe_end = end
        return probe.deep[0] if probe.deep else None

    def deep_handover(self, end: int) -> _Handover:
        """The handover of the current member, nested near the limit, which ends at or after ``end``."""
        handover = self.handover()
        handover.too_deep = self.limit_passed(end)
        return handover

    def flush_unit(self) -> Unit:
        """The gathered members as one Unit (their bytes copied out), and a new one begun."""
        start = self.unit_start
        data = bytes(self.buf[start - self.buf_start : self.unit_end - self.buf_start])
        members = [(s - start, e - start, after_comma) for s, e, after_comma in self.unit]
        self.unit = []
        return Unit(start, data, members, self.layout, self.auto_detected)

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

    def member(self, end: int, *, last: bool = False) -> Iterator[Profile | Unit]:
        """Decode the member from ``member_start`` to ``end`` and yield what it holds.

        A wrong shape is reported at ``end``, the delimiter just after the member.
        """
        try:
            yield from self._member(end, last)
        except InputError as exc:
            if exc.offset is None:
                exc.offset = end
            raise

    def _member(self, end: int, last: bool) -> Iterator[Profile | Unit]:
        start = self.member_start
        if start < 0:  # the rest of the profiles member: only whitespace may follow its value
            if bytes(self.buf[self.after_profiles - self.buf_start : end - self.buf_start]).strip(
                _WHITESPACE
            ):
                raise self.handover(self.after_profiles, b'{"profiles":{}')
            self.after_profiles = -1
            return
        text = self.buf[start - self.buf_start : end - self.buf_start]
        if last and not self.after_comma and not bytes(text).strip(_WHITESPACE):
            return  # an empty object
        if self.deep:  # nested near the depth limit: the exact engine enforces the limit
            i = bisect.bisect_left(self.deep, start)
            if i < len(self.deep) and self.deep[i] < end:
                raise self.deep_handover(end)
        if self.dispatch and (self.split == 2 or self.layout == BARE):
            if not self.unit:
                self.unit_start = start - 1  # from its delimiter: units tile the input
            self.unit.append((start, end, self.after_comma))
            self.unit_end = end
            if end - self.unit_start >= UNIT_BYTES:
                yield self.flush_unit()
            return
        if self.unit:
            yield self.flush_unit()
        layout = self.layout
        if self.split == 2 or layout == BARE:
            profile = read_profile(
                text, WRAPPED if self.split == 2 else BARE, layout == BARE and self.auto_detected, self.into
            )
            if profile is None:
                raise self.handover()
            self.last_key = profile.key
            yield profile
            return
        decoded = decode_member(text)
        if decoded is None:
            raise self.handover()
        key, value = decoded
        self.last_key = key
        if layout == AUTO and key in WRAPPER_KEYS:
            self.layout = layout = WRAPPED
        if layout == WRAPPED:
            if key == "profiles":  # a profiles value that is not an object: the exact engine's error
                raise self.handover()
            yield document_extra(key, value)
            return
        # AUTO: the first top-level key decides.
        self.layout = BARE if is_bare_profile(value) else WRAPPED
        self.auto_detected = True
        yield document_extra(key, value) if self.layout == WRAPPED else profile_records(key, value, BARE)

    # -- the vectorised scan -----------------------------------------------------------------

    def tokens(self, block: bytes, base: int) -> list[tuple[int, int, int]]:
        """The member-splitting tokens of one block as (offset, byte, depth)."""
        if _compiled.scan is not None:  # the same rules in one C loop
            tokens, deep, self.in_string, odd, self.depth = _compiled.scan(
                block, base, self.in_string, self.backslashes & 1, self.depth, self.deep_from
            )
            self.backslashes = int(odd)
            self.deep += deep
            return tokens
        a = np.frombuffer(block, dtype=np.uint8)
        quotes = a == _QUOTE
        quotes[self._escaped_quotes(a)] = False
        # A structural byte is outside strings when an even number of real quotes precede it.
        inside = _prefix_parity(quotes)
        structural = (a == _LBRACE) | (a == _RBRACE) | (a == _LBRACKET) | (a == _RBRACKET) | (a == _COMMA)
        structural &= inside == self.in_string  # the parity before the block flips the meaning
        structural = np.flatnonzero(structural)
        self.in_string = bool(inside[-1]) != self.in_string
        chars = a[structural]
        step = np.zeros(len(structural), dtype=np.int64)
        step[(chars == _LBRACE) | (chars == _LBRACKET)] = 1
        step[(chars == _RBRACE) | (chars == _RBRACKET)] = -1
        after = np.cumsum(step) + self.depth
        before_depth = after - step
        opens, closes, commas = step == 1, step == -1, chars == _COMMA
        keep = (
            (opens & (before_depth <= 1))
            | (closes & (after <= 1))
            | (commas & ((before_depth == 1) | (before_depth == 2)))
        )
        if len(after):
            self.depth = int(after[-1])
            if int(after.max()) > self.deep_from:  # the first deep byte of each run between tokens
                deep_at = structural[after > self.deep_from]
                runs = np.searchsorted(structural[keep], deep_at)
                first = np.ones(len(deep_at), dtype=bool)
                first[1:] = runs[1:] != runs[:-1]
                self.deep.extend((deep_at[first] + base).tolist())
        # An open reports the depth before it, a close the depth after it, a comma its own.
        depth = np.where(closes, after, before_depth)[keep]
        return list(
            zip((structural[keep] + base).tolist(), chars[keep].tolist(), depth.tolist(), strict=True)
        )

    def _escaped_quotes(self, a: np.ndarray) -> np.ndarray:
        """Offsets in ``a`` of the quotes escaped by an odd run of backslashes (a run may begin
        in earlier blocks); remembers the run that ends this block."""
        carry, n = self.backslashes, len(a)
        first = [0] if carry & 1 and a[0] == _QUOTE else []  # escaped by the run ending the previous block
        backslashes = np.flatnonzero(a == _BACKSLASH)
        if not len(backslashes):
            self.backslashes = 0
            return np.array(first, dtype=np.intp)
        # Each run of consecutive backslashes: its first and last offset, and its length.
        breaks = np.flatnonzero(np.diff(backslashes) != 1)
        firsts = backslashes[np.concatenate(([0], breaks + 1))]
        lasts = backslashes[np.concatenate((breaks, [len(backslashes) - 1]))]
        lengths = lasts - firsts + 1
        if firsts[0] == 0:
            lengths[0] += carry
        self.backslashes = int(lengths[-1]) if lasts[-1] == n - 1 else 0
        after = lasts + 1
        after = after[(after < n) & ((lengths & 1) == 1)]
        return np.concatenate((first, after[a[after] == _QUOTE])).astype(np.intp)


def _prefix_parity(flags: np.ndarray) -> np.ndarray:
    """For each position, whether an odd number of ``flags`` (bool) are set up to and including it.

    A prefix XOR on 64-bit words (log-step shifts within each word, then each word's
    carry from the parity of all before it): several times faster than a cumulative sum.
    """
    words = np.packbits(flags, bitorder="little")
    words = np.concatenate((words, np.zeros(-len(words) % 8, np.uint8))).view("<u8")
    for shift in (1, 2, 4, 8, 16, 32):
        words ^= words << np.uint64(shift)
    odd_before = np.bitwise_xor.accumulate(words >> np.uint64(63))  # each word's top bit: its own parity
    words[1:] ^= np.uint64(0) - odd_before[:-1]  # all ones where the words before hold an odd count
    return np.unpackbits(words.view(np.uint8), count=len(flags), bitorder="little").view(bool)
