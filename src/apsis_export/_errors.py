"""Errors apsis-export raises on purpose; anything else is a bug."""

from __future__ import annotations


class ApsisExportError(Exception):
    """Base class of every error apsis-export raises deliberately."""


class InputError(ApsisExportError):
    """The input is not a readable APSIS One profile export.

    ``offset`` is the byte offset in the JSON text (after gzip decompression)
    where the problem was detected, ``profile_key`` the profile being read.
    """

    def __init__(self, problem: str, *, offset: int | None = None, profile_key: str | None = None):
        self.problem = problem
        self.offset = offset
        self.profile_key = profile_key
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.offset is not None:
            where.append(f"near byte {self.offset:,}")
        if self.profile_key is not None:
            where.append(f"in profile {self.profile_key!r}")
        return f"{self.problem} ({', '.join(where)})" if where else self.problem


class SinkError(ApsisExportError):
    """A sink could not be found, opened or written."""


class OptionsError(ApsisExportError, ValueError):
    """Options that cannot work together on this input (the CLI's usage error, exit 2)."""

    exit_code = 2
