"""The fast engine's compiled step (``_native.c``): the structural scan (:data:`scan`) and
profiles of the common shape straight to the Arrow columns of the attributes and events
tables (:class:`NativeColumns`), without a Python object per value.

It maps only what it is sure of (see the top of ``_native.c``) and refuses the rest,
which the Python mapping then reads as before, so the output is the same either way
(tests/test_native.py holds it to that). The module is built at install when a C
compiler is there; without it, or with ``APSIS_EXPORT_PURE=1`` in the environment,
:data:`AVAILABLE` is false and the engine maps every profile in Python.
"""

from __future__ import annotations

import pyarrow as pa

from .._extension import ENABLED
from .._extension import native as _native

#: True when the compiled step is built and not switched off by APSIS_EXPORT_PURE=1.
AVAILABLE = ENABLED

#: ``_scan.BlockScanner.tokens`` in C (see ``scan`` in _native.c), or None where the numpy scan does it.
scan = _native.scan if AVAILABLE else None


def _strings(rows: int, buffers: tuple) -> pa.Array:
    validity, offsets, data = buffers
    return pa.Array.from_buffers(
        pa.string(), rows, [validity and pa.py_buffer(validity), pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def _ints(rows: int, buffers: tuple) -> pa.Array:
    validity, values = buffers
    return pa.Array.from_buffers(
        pa.int64(), rows, [validity and pa.py_buffer(validity), pa.py_buffer(values)]
    )


class NativeColumns:
    """The attributes' and events' columns of the profiles :meth:`add` took, until :meth:`take`.

    Column values are as the built-in sinks' encoders make them from records: text columns
    as Arrow strings (``json``: as JSON texts, null as ``null``, for JSONL), attribute values
    as their text (``json``: JSON), event data as compact JSON, times as int64 milliseconds
    (``iso_times``: as ISO 8601 text, as ``_encode.iso_millis`` writes them).
    """

    def __init__(self, *, json: bool, attributes: bool = True, events: bool = True, iso_times: bool = False):
        if _native is None:
            raise RuntimeError("apsis_export._native is not built")
        self._builder = _native.Builder(json=json, attributes=attributes, events=events, iso_times=iso_times)

    def add(self, text: bytes, *, wrapped: bool, ambiguous: bool) -> tuple[str, list[str]] | None:
        """Append the rows of one profile member's text (``"key": value``) of the wrapped layout
        (else bare); its key and section IDs, or None (nothing appended) for a profile the Python
        mapping must read. ``ambiguous``: refuse a profile keyed "profiles" (see read_profile)."""
        return self._builder.add(text, wrapped=wrapped, ambiguous=ambiguous)

    def add_many(
        self, buffer: bytearray, base: int, spans: list[int], *, wrapped: bool, ambiguous: bool
    ) -> tuple[int, str]:
        """:meth:`add` for a run of members of ``buffer`` (the input from offset ``base`` on), given
        as a flat list of their (start, end) offsets, until one is refused: (members added, the
        key of the last one, "" if none). One call a run instead of one a profile."""
        return self._builder.add_many(buffer, base, spans, wrapped=wrapped, ambiguous=ambiguous)

    def add_run(
        self,
        buffer: bytearray,
        base: int,
        start: int,
        *,
        wrapped: bool,
        ambiguous: bool,
        members: int,
        span: int,
    ) -> tuple[int, str, int, bool]:
        """The profile members of ``buffer`` (the input from offset ``base`` on) from offset
        ``start``, each parsed where it lies (no scan needed: the parse finds its end) while each
        is followed by a comma, at most ``members`` of them spanning ``span`` bytes: (members
        added, the last one's key or "", the offset just past its comma, whether a limit stopped
        it). A member it stops at is not counted as refused: it may just be incomplete."""
        return self._builder.add_run(
            buffer, base, start, wrapped=wrapped, ambiguous=ambiguous, members=members, span=span
        )

    @property
    def refusals(self) -> dict[str, int]:
        """Profiles refused so far (read by the Python mapping instead), by reason."""
        return self._builder.refusals

    @property
    def rows(self) -> tuple[int, int]:
        """(attribute rows, event rows) waiting."""
        return self._builder.rows

    def take(self) -> tuple[list[pa.Array], list[pa.Array]]:
        """The waiting rows as one array per column of the attributes and of the events table."""
        attribute_rows, attributes, event_rows, events = self._builder.take()
        return (
            [_strings(attribute_rows, column) for column in attributes],
            [
                _ints(event_rows, column) if len(column) == 2 else _strings(event_rows, column)
                for column in events
            ],
        )
