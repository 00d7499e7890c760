"""The fast engine: a vectorised structural scan finds each profile, msgspec decodes it.

Its parts, one module each:

* ``_scan``: block by block, the few structural tokens (outside strings, at the depths
  that matter) that split members of the top object and of ``profiles``;
* ``_members``: the state machine over those tokens that cuts each member -- one profile,
  or one top-level key -- out of the bytes;
* ``_decode``: one member's text to records with msgspec, straight into typed structs
  (or, by the compiled step, Arrow columns) for a profile of the common shape, through
  the same ``_shape`` mapping as the exact engine, so the records are identical by
  construction;
* ``_handover``: anything out of the ordinary hands the rest of the document, from the
  start of that member, to the exact engine, which yields what it yields or raises the
  error it raises, with offsets into the original input. The fast path never produces a
  result the exact engine would not;
* ``_units``: for --jobs, profile members gathered into units that worker processes decode.

This module is the front: :class:`FastEngine`, and the unit stream's types for --jobs.
"""

from __future__ import annotations

from collections.abc import Iterator

from .._records import Profile
from .._shape import AUTO, ColumnsInto
from .._source import Source
from ._handover import Handover, resume
from ._members import ProfileScan
from ._units import ResumeExact, Unit, UnitStream

__all__ = ["FastEngine", "ResumeExact", "Unit", "UnitStream"]


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
        and events as columns there (see :func:`~._decode.read_profile`), each before its
        profile is yielded."""
        scan = ProfileScan(source, layout, into)
        try:
            yield from scan.run()
        except Handover as h:
            pending = bytes(scan.buf[h.start - scan.buf_start :])
            scan.buf = bytearray()
            yield from resume(source, h, pending, scan.last_key)
