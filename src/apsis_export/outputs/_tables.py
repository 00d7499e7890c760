"""A file per table, in any format, staged by :class:`Output`."""

from __future__ import annotations

from typing import Any, Sequence

from .._records import Record
from ..sinks import Sink
from ._output import Output


class StagedFile:
    """A file sink whose file, once closed, the output stages for the commit."""

    def __init__(self, sink: Sink, output: Output, relative: str):
        self._sink, self._output, self._relative = sink, output, relative

    def write(self, records: Sequence[Record]) -> None:
        self._sink.write(records)

    def write_encoded(self, payload: Any) -> None:
        self._sink.write_encoded(payload)

    def drain(self) -> None:
        drain = getattr(self._sink, "drain", None)
        if drain is not None:
            drain()

    def close(self) -> None:
        self._sink.close()
        self._output.file_done(self._relative)

    def abort(self) -> None:
        self._sink.abort()
