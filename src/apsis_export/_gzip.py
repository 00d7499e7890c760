"""gzip streams of one or more members, inflated in bounded steps: the one walker that both
the converter's input (``_source``) and the download check (``fetch/_body``) use, so that
both accept the same streams (members back to back, zero padding between and after them).

Imports nothing of the package: the fetch layer takes it without the convert rooms.
"""

from __future__ import annotations

import zlib
from types import ModuleType
from typing import Any, BinaryIO

#: The first two bytes of every gzip member.
GZIP_MAGIC = b"\x1f\x8b"
#: Compressed bytes read, and at most decompressed bytes produced, per step.
STEP = 256 * 1024
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # a gzip header and trailer, checked


def _fastest_zlib() -> ModuleType:
    """The fastest zlib-compatible inflater there: isal (a dependency), or where it fails to load
    (a platform it has no wheel for, built without ISA-L), zlib-ng if installed, else zlib."""
    try:
        from isal import isal_zlib

        return isal_zlib
    except ImportError:
        pass
    try:
        from zlib_ng import zlib_ng

        return zlib_ng
    except ImportError:
        return zlib


#: The module that inflates: isal's zlib, or where it does not load zlib-ng's or zlib.
ZLIB = _fastest_zlib()


class GzipError(ValueError):
    """The compressed bytes are not gzip (a bad header, data or checksum)."""


class GzipMembers:
    """Inflates the gzip members of the bytes :meth:`feed` hands in, in steps of bounded output.

    Between members, and after the last, zero bytes are padding. Every byte that can be
    inflated comes out before an error is raised, so a corrupt stream fails exactly where
    its good data ends.
    """

    def __init__(self, zlib_module: ModuleType | None = None):
        self._zlib = zlib_module or ZLIB
        self._member: Any = None  # the member being inflated (a decompressobj); None between members
        self._input = b""  # bytes handed in and not inflated yet
        #: Members that ended (their trailer checked).
        self.members = 0

    @property
    def in_member(self) -> bool:
        """A member has begun and not ended: the stream is cut if nothing more comes."""
        return self._member is not None

    def feed(self, data: bytes) -> None:
        """Hand in the next compressed bytes."""
        self._input = self._input + data if self._input else data

    def inflate(self, size: int) -> bytes:
        """Up to ``size`` (> 0) inflated bytes; b"" once all bytes handed in are inflated.
        Raises GzipError where the bytes are not gzip."""
        while True:
            if self._member is None:
                self._input = self._input.lstrip(b"\0")
                if not self._input:
                    return b""
                self._member = self._zlib.decompressobj(_GZIP_WBITS)
            member = self._member
            try:
                # With no input left, isal may still hold output past an earlier max_length.
                out = member.decompress(self._input, size)
            except (zlib.error, self._zlib.error) as exc:
                raise GzipError(str(exc)) from None
            if member.eof:  # another member may follow, or padding, or the end
                self._input = member.unused_data
                self._member = None
                self.members += 1
            else:
                self._input = member.unconsumed_tail
            if out or not self._input:
                return out


class GzipReader:
    """A binary stream's gzip members inflated, read like a file (``read(n)``).

    Raises :class:`GzipError` for bytes that are not gzip and EOFError where the stream
    ends inside a member, each after every byte inflated before it.
    """

    def __init__(self, raw: BinaryIO, zlib_module: ModuleType | None = None):
        self._raw = raw
        self._members = GzipMembers(zlib_module)

    def read(self, size: int = -1) -> bytes:
        if size == 0:  # (zlib takes a max_length of 0 as "no limit")
            return b""
        size = STEP if size < 0 else min(size, STEP)  # small steps: errors land close
        while True:
            out = self._members.inflate(size)
            if out:
                return out
            data = self._raw.read(STEP)
            if not data:
                if self._members.in_member:
                    raise EOFError("the compressed stream ends before its end marker")
                return b""
            self._members.feed(data)
