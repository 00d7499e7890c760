"""The fast engine's walk with decoding left to worker processes (--jobs).

The main process scans (the member state machine, ``_members``) and gathers consecutive
profile members, as raw bytes, into :class:`Unit` objects of about :data:`UNIT_BYTES`; a
worker decodes a unit's members (:meth:`Unit.profile`). Units tile the input, each from
the delimiter before its first member, so that a worker that meets a member only the exact
engine may read lets the exact engine read on from there (:meth:`UnitStream.resume_at`),
as the one-process engine would.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .._records import Profile
from .._shape import BARE, WRAPPED, ColumnsInto
from .._source import Source
from ._decode import read_profile
from ._handover import Handover, member_handover, resume
from ._members import MemberScan
from ._scan import PROFILES, TOP

#: Profile members are handed on in units of about this many bytes.
UNIT_BYTES = 1024 * 1024


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
            self.data[start:end], self.layout, ambiguous=self.layout == BARE and self.auto_detected, into=into
        )


class UnitScan(MemberScan[Unit]):
    """The member state machine gathering profile members into Units instead of decoding them."""

    def __init__(self, source: Source, layout: str):
        super().__init__(source, layout)
        self.unit: list[tuple[int, int, bool]] = []  # (start, end, after a comma) of each member
        self.unit_start = self.unit_end = -1

    def profile_member(self, start: int, end: int, text: bytearray) -> Unit | None:
        if not self.unit:
            self.unit_start = start - 1  # from its delimiter: units tile the input
        self.unit.append((start, end, self.after_comma))
        self.unit_end = end
        return self.flush_unit() if end - self.unit_start >= UNIT_BYTES else None

    def pending(self) -> Unit | None:
        return self.flush_unit() if self.unit else None

    def held_from(self) -> int:
        return self.unit_start if self.unit else -1

    def flush_unit(self) -> Unit:
        """The gathered members as one Unit (their bytes copied out), and a new one begun."""
        start = self.unit_start
        data = bytes(self.buf[start - self.buf_start : self.unit_end - self.buf_start])
        members = [(s - start, e - start, after_comma) for s, e, after_comma in self.unit]
        self.unit = []
        return Unit(start, data, members, self.layout, self.auto_detected)


class ResumeExact:
    """In a UnitStream: from here on the exact engine reads; ask for its profiles once
    every earlier unit is written (the previous key is then known)."""

    def __init__(self, source: Source, handover: Handover, pending: bytes):
        self._source, self._handover, self._pending = source, handover, pending

    def profiles(self, previous_key: str) -> Iterator[Profile]:
        return resume(self._source, self._handover, self._pending, previous_key)


class UnitStream:
    """The fast path with decoding left to others (--jobs): yields Units of profile members,
    Profiles where the main process must decode (top-level keys), and at most one
    ResumeExact where the exact engine takes over."""

    def __init__(self, source: Source, layout: str):
        self.source = source
        self.scan = UnitScan(source, layout)

    def __iter__(self) -> Iterator[Unit | Profile | ResumeExact]:
        scan = self.scan
        try:
            yield from scan.run()
        except Handover as h:
            if scan.unit:
                yield scan.flush_unit()
            yield ResumeExact(self.source, h, bytes(scan.buf[h.start - scan.buf_start :]))

    def resume_at(self, unit: Unit, index: int, later: list[Unit], previous_key: str) -> Iterator[Profile]:
        """The exact engine's profiles from member ``index`` of ``unit`` on (a worker could not
        decode it); ``later`` are the units dispatched after it, whose results are dropped."""
        start, _, after_comma = unit.members[index]
        handover = member_handover(
            PROFILES if unit.layout == WRAPPED else TOP,
            unit.start + start,
            after_comma=after_comma,
            layout=unit.layout,
            auto_detected=unit.auto_detected,
        )
        scan = self.scan
        tail_from = later[-1].start + len(later[-1].data) if later else unit.start + len(unit.data)
        pending = b"".join(
            [
                unit.data[handover.start - unit.start :],
                *(u.data for u in later),
                bytes(scan.buf[tail_from - scan.buf_start :]),
            ]
        )
        return resume(self.source, handover, pending, previous_key)
