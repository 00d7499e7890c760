"""A file per table, in any format, staged by :class:`Output`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from .._errors import SinkError
from .._records import Record
from ..sinks import Sink
from ._output import Output


@contextmanager
def named_as_final(staged: str | Path, final: str | Path) -> Iterator[None]:
    """A sink's error names the file the user asked for, not its staged copy."""
    try:
        yield
    except SinkError as exc:
        raise SinkError(str(exc).replace(str(staged), str(final))) from None


class StagedFile:
    """A file sink whose file, once closed, the output stages for the commit."""

    def __init__(self, sink: Sink, output: Output, relative: str, staged: Path, final: str | Path):
        self._sink, self._output, self._relative = sink, output, relative
        self._named = partial(named_as_final, staged, final)

    def write(self, records: Sequence[Record]) -> None:
        with self._named():
            self._sink.write(records)

    def write_encoded(self, payload: Any) -> None:
        with self._named():
            self._sink.write_encoded(payload)  # type: ignore[attr-defined]  # payloads reach only formats with an encoder: FileSinks

    def drain(self) -> None:
        drain = getattr(self._sink, "drain", None)
        if drain is not None:
            with self._named():
                drain()

    def close(self) -> None:
        with self._named():
            self._sink.close()
        self._output.file_done(self._relative)

    def abort(self) -> None:
        self._sink.abort()
