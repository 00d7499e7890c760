"""The fast engine's member state machine: one pass over a document that cuts the members
of the top object and of ``profiles`` out of its bytes.

A small state machine walks the tokens of the structural scan (``_scan``): the opens and
closes of the top object and of ``profiles``, and the commas between their members. Each
member -- one profile, or one top-level key -- is cut out of the bytes read and handed on:
a profile to :meth:`MemberScan.profile_member` (decoded in place by :class:`ProfileScan`,
gathered into units for worker processes by ``_units.UnitScan``), a top-level key decoded
here (it also tells an ``auto`` layout which one the document has). Anything it does not
expect -- a malformed skeleton, a member msgspec refuses, nesting near the depth limit,
truncation -- raises a :class:`~._handover.Handover`: the exact engine reads the rest.

Memory holds one block plus the member being read (and the members gathered, by units).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from typing import TYPE_CHECKING, Generic, TypeVar

from .._errors import InputError
from .._records import Profile
from .._shape import (
    AUTO,
    BARE,
    WRAPPED,
    WRAPPER_KEYS,
    ColumnsInto,
    document_extra,
    is_bare_profile,
    profile_records,
)
from .._source import Source
from ._decode import decode_key, decode_member, read_profile
from ._exact import MAX_DEPTH
from ._handover import AFTER_DOCUMENT, AFTER_PROFILES, START, Handover, member_handover
from ._scan import COMMA, DOCUMENT, LBRACE, OPENS, PROFILES, RBRACE, TOP, BlockScanner

if TYPE_CHECKING:
    from ._compiled import NativeColumns

#: Bytes scanned per step; memory holds one block plus the profile being read.
BLOCK_SIZE = 1024 * 1024
#: Profile members handed to the compiled step in one call at most (see ProfileScan.batch),
#: and the input bytes they may span (a member alone may span more): the pipeline looks at its
#: batches between calls, so a call adds at most a few thousand rows, or this many bytes of
#: values, to a batch.
BATCH_MEMBERS = 64
BATCH_SPAN = 256 * 1024
#: Times the compiled step tries to parse one member where it lies (see ProfileScan.read_block).
MEMBER_TRIES = 2
#: Nesting deeper than this (counted from outside the document) hands a member to the exact
#: engine, which enforces its depth limit: a margin below MAX_DEPTH, which counts levels below
#: a member's value.
NEAR_LIMIT = MAX_DEPTH - 8

_WHITESPACE = b" \t\r\n"

#: What a profile member becomes (a Profile, or a unit of members for a worker).
Item = TypeVar("Item")


class MemberScan(Generic[Item]):
    """One pass of the fast path over one document: the block scan and the member state machine.

    What becomes of each profile member is the subclass's :meth:`profile_member`.
    """

    def __init__(self, source: Source, layout: str):
        self.source = source
        self.layout = layout
        self.auto_detected = False
        self.buf = bytearray()  # input bytes from buf_start on
        self.buf_start = 0
        self.scanner = BlockScanner(NEAR_LIMIT)
        # Member state: the depth whose members are being split (TOP: the top object,
        # PROFILES: profiles; DOCUMENT before the top object opens and after it closes).
        self.split = DOCUMENT
        self.member_start = -1  # offset just past the delimiter that opened the current member
        self.after_comma = False  # the current member follows a comma (not its container's open)
        self.last_key = ""  # the key of the latest member decoded
        self.closed_at = -1  # offset just past the top object's close
        self.after_profiles = -1  # offset just past the profiles object's close
        # A second scan of the current member once it is nested near the limit: it finds the
        # byte where nesting passes the exact engine's limit (see limit_passed).
        self.probe: BlockScanner | None = None
        self.probe_start = self.probe_end = -1

    # -- what the subclass does with members ---------------------------------------------------

    def profile_member(self, start: int, end: int, text: bytearray) -> Item | None:
        """The member from ``start`` to ``end`` (its bytes ``text``) is a profile: what to yield
        for it, if anything yet; raises a Handover where only the exact engine may read it."""
        raise NotImplementedError

    def pending(self) -> Item | None:
        """What profile members held back must yield before a top-level key or the end."""
        return None

    def held_from(self) -> int:
        """The offset from which the bytes read must be kept for members held back (-1: none)."""
        return -1

    # -- the state machine ---------------------------------------------------------------------

    def handover(self, start: int | None = None, prefix: bytes = START) -> Handover:
        """Hand the rest over to the exact engine: from ``start`` after ``prefix``, or by default
        from the start of the current member, with the prefix that recreates its context."""
        if start is None:
            if self.split != DOCUMENT and self.member_start >= 0:
                return member_handover(
                    self.split,
                    self.member_start,
                    after_comma=self.after_comma,
                    layout=self.layout,
                    auto_detected=self.auto_detected,
                )
            if self.split == TOP:
                start, prefix = self.after_profiles, AFTER_PROFILES
            else:
                start, prefix = 0, START
        return Handover(start, prefix, self.layout, auto_detected=self.auto_detected)

    def run(self) -> Iterator[Profile | Item]:
        source, scanner = self.source, self.scanner
        while True:
            block = source.read(BLOCK_SIZE)
            if not block:
                break
            base = source.json_offset - len(block)
            self.buf += block
            yield from self.read_block(block, base)
            if scanner.deep:
                self.deep_after_block(base + len(block))
            # Keep what a handover may need: the current member and the delimiter before it.
            keep = min(
                x
                for x in (
                    self.member_start - 1,
                    self.after_profiles,
                    self.closed_at,
                    base + len(block),
                    self.held_from(),
                )
                if x >= 0
            )
            if self.split == DOCUMENT and self.closed_at < 0:
                keep = 0  # before the top object opens, keep everything for the exact engine
            del self.buf[: keep - self.buf_start]
            self.buf_start = keep
        if self.closed_at < 0:  # empty, truncated or not an object: the exact engine says which
            raise self.handover()
        held = self.pending()
        if held is not None:
            yield held
        tail = bytes(self.buf[self.closed_at - self.buf_start :])
        if tail.strip(_WHITESPACE):
            raise self.handover(self.closed_at, AFTER_DOCUMENT)

    def read_block(self, block: bytes, base: int) -> Iterator[Profile | Item]:
        """One block just read (at offset ``base``, already in ``buf``): its tokens, in order."""
        yield from self.tokens(self.scanner.tokens(block, base))

    def tokens(self, tokens: list[tuple[int, int, int]]) -> Iterator[Profile | Item]:
        """Tokens of the document, in order (see :meth:`token`)."""
        for token in tokens:
            yield from self.token(*token)

    def token(self, pos: int, char: int, depth: int) -> Iterator[Profile | Item]:
        """One token that may split members: an open at depth DOCUMENT/TOP, a close back to
        DOCUMENT/TOP, a comma at TOP/PROFILES."""
        if char == COMMA:
            if depth == self.split:
                yield from self.member(pos)
                self.member_start, self.after_comma = pos + 1, True
            return
        if char in OPENS:
            if depth == DOCUMENT:
                if (
                    self.split != DOCUMENT
                    or self.closed_at >= 0
                    or char != LBRACE
                    or bytes(self.buf[: pos - self.buf_start]).strip(_WHITESPACE)
                ):
                    raise (
                        self.handover(0, START)
                        if self.closed_at < 0
                        else self.handover(self.closed_at, AFTER_DOCUMENT)
                    )
                self.split, self.member_start, self.after_comma = TOP, pos + 1, False
            elif (
                self.split == TOP
                and char == LBRACE
                and self.layout != BARE
                and self.key_before(pos) == "profiles"
            ):
                if self.layout == AUTO:
                    self.layout = WRAPPED
                self.split, self.member_start, self.after_comma = PROFILES, pos + 1, False
            return
        # A close returning to depth DOCUMENT or TOP (``depth`` is the depth after it).
        if depth == TOP and self.split == PROFILES:
            yield from self.member(pos, last=True)
            self.split, self.member_start = TOP, -1
            self.after_profiles = pos + 1
        elif depth == DOCUMENT:
            if self.split != TOP or char != RBRACE:
                raise self.handover()
            yield from self.member(pos, last=True)
            self.split, self.closed_at = DOCUMENT, pos + 1

    def deep_after_block(self, end: int) -> None:
        """After a block: of the deep offsets only the current member's first is kept (earlier
        members are done with); once the byte where that member passes the depth limit is in,
        the exact engine takes over at once, which errors there: neither the member nor any
        list grows with how deep it goes."""
        scanner = self.scanner
        start = self.member_start if self.split != DOCUMENT else -1
        i = bisect.bisect_left(scanner.deep, start) if start >= 0 else len(scanner.deep)
        scanner.deep = scanner.deep[i : i + 1]
        if scanner.deep and self.limit_passed(end) is not None:
            raise self.deep_handover(end)

    def limit_passed(self, end: int) -> int | None:
        """The offset where the current member's nesting passes the exact engine's limit
        (MAX_DEPTH levels below the member's value), scanning its bytes up to ``end`` (each byte
        once over the calls for one member); None if not there."""
        start = self.member_start
        if self.probe is None or self.probe_start != start:
            self.probe = BlockScanner(self.split + MAX_DEPTH, depth=self.split)
            self.probe_start = self.probe_end = start
        probe = self.probe
        if end > self.probe_end and not probe.deep:
            probe.tokens(
                bytes(self.buf[self.probe_end - self.buf_start : end - self.buf_start]), self.probe_end
            )
            self.probe_end = end
        return probe.deep[0] if probe.deep else None

    def deep_handover(self, end: int) -> Handover:
        """The handover of the current member, nested near the limit, which ends at or after ``end``."""
        handover = self.handover()
        handover.too_deep = self.limit_passed(end)
        return handover

    def key_before(self, pos: int) -> str | None:
        """The key of the member whose value opens at ``pos`` (None if it cannot be read)."""
        text = bytes(self.buf[self.member_start - self.buf_start : pos - self.buf_start]).strip(_WHITESPACE)
        return decode_key(text[:-1]) if text.endswith(b":") else None

    def member(self, end: int, *, last: bool = False) -> Iterator[Profile | Item]:
        """Decode the member from ``member_start`` to ``end`` and yield what it holds.

        A wrong shape is reported at ``end``, the delimiter just after the member.
        """
        try:
            yield from self._member(end, last)
        except InputError as exc:
            if exc.offset is None:
                exc.offset = end
            raise

    def _member(self, end: int, last: bool) -> Iterator[Profile | Item]:
        start = self.member_start
        if start < 0:  # the rest of the profiles member: only whitespace may follow its value
            if bytes(self.buf[self.after_profiles - self.buf_start : end - self.buf_start]).strip(
                _WHITESPACE
            ):
                raise self.handover(self.after_profiles, AFTER_PROFILES)
            self.after_profiles = -1
            return
        text = self.buf[start - self.buf_start : end - self.buf_start]
        if last and not self.after_comma and not bytes(text).strip(_WHITESPACE):
            return  # an empty object
        deep = self.scanner.deep
        if deep:  # nested near the depth limit: the exact engine enforces the limit
            i = bisect.bisect_left(deep, start)
            if i < len(deep) and deep[i] < end:
                raise self.deep_handover(end)
        layout = self.layout
        if self.split == PROFILES or layout == BARE:
            item = self.profile_member(start, end, text)
            if item is not None:
                yield item
            return
        held = self.pending()
        if held is not None:
            yield held
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


class ProfileScan(MemberScan[Profile]):
    """The member state machine decoding each profile member as it is cut out.

    With the compiled step (``into.native``), a run of profile members that a block's tokens
    delimit goes to it in one call (:meth:`batch`): one Profile then stands for the run."""

    def __init__(self, source: Source, layout: str, into: ColumnsInto | None = None):
        super().__init__(source, layout)
        self.into = into  # where typed profiles map to columns (see read_profile)
        self.native = into.native if into is not None else None
        self.member_into = into  # None for a member the compiled step refused in a batch
        # The member the compiled step last tried to parse where it lies, and how often.
        self.tried, self.tries = -1, 0

    def read_block(self, block: bytes, base: int) -> Iterator[Profile]:
        """With the compiled step, between profile members: it parses the members from the
        current one on where they lie, each followed by a comma (Builder.add_run), so the scan
        only reads what it leaves: the member the block ends in, or one it refuses and what
        follows. A member is tried at most twice (it began in the block before, or it is big:
        the scan finds its end), so no byte is parsed more than three times."""
        native, split, start = self.native, self.split, self.member_start
        if (
            native is None
            or start < 0
            or not (split == PROFILES or (split == TOP and self.layout == BARE))
            or self.scanner.deep
            or (start == self.tried and self.tries >= MEMBER_TRIES)
        ):
            yield from super().read_block(block, base)
            return
        self.tries = self.tries + 1 if start == self.tried else 1
        self.tried = start
        wrapped = split == PROFILES
        limited = True
        while limited:
            done, key, after, limited = native.add_run(
                self.buf,
                self.buf_start,
                self.member_start,
                wrapped=wrapped,
                ambiguous=not wrapped and self.auto_detected,
                members=BATCH_MEMBERS,
                span=BATCH_SPAN,
            )
            if done:
                self.last_key = key
                self.member_start, self.after_comma = after, True
                yield Profile(key, count=done)
        if self.member_start == start:  # none taken: the block's tokens, scanned as before
            yield from super().read_block(block, base)
            return
        # The scan goes on from the member the compiled step stopped at, in a known state: just
        # after a comma between members of the current split, outside any string.
        self.scanner.restart(split)
        rest = self.member_start
        yield from self.tokens(self.scanner.tokens(bytes(self.buf[rest - self.buf_start :]), rest))

    def tokens(self, tokens: list[tuple[int, int, int]]) -> Iterator[Profile]:
        if self.native is None:
            yield from super().tokens(tokens)
            return
        i, n = 0, len(tokens)
        while i < n:
            j, split = i, self.split
            ends: list[int] = []
            if (split == PROFILES or (split == TOP and self.layout == BARE)) and not self.scanner.deep:
                # The commas that end the members of the current split, in a row; a bare profile's
                # own tokens between them (its value's open and close, commas between its
                # sections) are ones token() passes over.
                while j < n and len(ends) < BATCH_MEMBERS:
                    pos, char, depth = tokens[j]
                    if char == COMMA and depth == split:
                        if ends and pos - self.member_start > BATCH_SPAN:
                            break
                        ends.append(pos)
                    elif split != TOP or depth != (PROFILES if char == COMMA else TOP):
                        break
                    j += 1
            if len(ends) > 1:
                yield from self.batch(self.native, ends)
                i = j
            else:
                yield from self.token(*tokens[i])
                i += 1

    def batch(self, native: NativeColumns, ends: list[int]) -> Iterator[Profile]:
        """The profile members that end at ``ends`` (each at a comma), the first from
        ``member_start``: the compiled step takes them in one call until it refuses one, which
        the Python mapping then reads (or hands over) as any member, and so on."""
        wrapped = self.split == PROFILES
        ambiguous = not wrapped and self.auto_detected
        while ends:
            spans: list[int] = []
            start = self.member_start
            for end in ends:
                spans += (start, end)
                start = end + 1
            done, key = native.add_many(self.buf, self.buf_start, spans, wrapped=wrapped, ambiguous=ambiguous)
            if done:
                self.last_key = key
                self.member_start, self.after_comma = ends[done - 1] + 1, True
                yield Profile(key, count=done)
            if done < len(ends):  # refused: read as any member is, without the compiled step
                self.member_into = None
                try:
                    yield from self.member(ends[done])
                finally:
                    self.member_into = self.into
                self.member_start, self.after_comma = ends[done] + 1, True
                done += 1
            ends = ends[done:]

    def profile_member(self, start: int, end: int, text: bytearray) -> Profile:
        profile = read_profile(
            text,
            WRAPPED if self.split == PROFILES else BARE,
            ambiguous=self.layout == BARE and self.auto_detected,
            into=self.member_into,
        )
        if profile is None:
            raise self.handover()
        self.last_key = profile.key or ""  # (a profile member's key is never None)
        return profile
