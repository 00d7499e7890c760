"""Progress of a long run, reported a few times a second to an optional callback."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ._source import Source

#: Seconds between two progress reports.
REPORT_EVERY_S = 0.2


@dataclass
class Progress:
    """How far a run has got; passed to the ``progress`` callback."""

    bytes_read: int  # input bytes as stored (compressed, for gzip)
    total_bytes: int | None  # input size as stored, when known
    bytes_json: int  # JSON bytes parsed
    profiles: int
    rows: int
    seconds: float


class ProgressTicker:
    """Calls ``callback`` with a :class:`Progress` at most every REPORT_EVERY_S seconds."""

    def __init__(self, callback: Callable[[Progress], None] | None, source: Source):
        self.callback = callback
        self.source = source
        self.start = time.perf_counter()
        self._next = 0.0

    def tick(self, profiles: int, rows: int, *, final: bool = False) -> None:
        if self.callback is None:
            return
        now = time.perf_counter()
        if final or now >= self._next:
            self._next = now + REPORT_EVERY_S
            src = self.source
            self.callback(
                Progress(src.bytes_read, src.total_bytes, src.json_offset, profiles, rows, now - self.start)
            )
