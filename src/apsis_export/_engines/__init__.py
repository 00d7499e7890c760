"""Engines turn the JSON bytes of an export into :class:`~apsis_export.Profile` objects.

Every engine has the same narrow interface (:class:`Engine`) and must yield
identical profiles for the same input; they differ only in speed. The shared
mapping from a profile's value to records lives in ``_shape``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from .._modes import EngineName
from .._records import Profile
from .._source import Source


class Engine(Protocol):
    """Reads a whole export from ``source`` and yields its profiles in file order."""

    name: str

    def profiles(self, source: Source, *, layout: str = "auto") -> Iterator[Profile]:
        """Yield one :class:`Profile` per profile (and per top-level extra key).

        Raises :class:`~apsis_export.InputError` on malformed input, with the byte
        offset and profile key where known.
        """
        ...


def get_engine(name: EngineName | str) -> Engine:
    """The engine registered under ``name``: ``"fast"`` or ``"exact"`` (the referee)."""
    if EngineName(name) is EngineName.EXACT:
        from ._exact import ExactEngine

        return ExactEngine()
    from ._fast import FastEngine

    return FastEngine()


ENGINE_NAMES = tuple(EngineName)
#: The engine used unless another is asked for.
DEFAULT_ENGINE = EngineName.FAST
