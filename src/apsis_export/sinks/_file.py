"""The sink protocol, and :class:`FileSink`: a file format's writer made a sink (temporary
name, rename on close, removal on abort, one error for any OSError)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from functools import wraps
from pathlib import Path
from typing import Any, Protocol

from .._errors import SinkError
from .._records import Record
from .._schema import Table


class Sink(Protocol):
    """One table being written in one format.

    Made as ``factory(path, table)``: open with the final path and schema.
    The factory has an ``extension`` attribute (``"parquet"``) naming files. A factory
    with ``accepts_columns`` true may also be handed batches as
    :class:`~apsis_export.sinks._columns.Columns` (the columnar path of a plain conversion).
    A factory with ``accepts_constants`` true is also made as ``factory(path, table,
    constants={column: value})``: string columns after the table's, one value in every row
    (the ``export`` column of a dataset many exports share).
    """

    def write(self, records: Sequence[Record]) -> None:
        """Write a batch of records of this sink's table, in order."""

    def close(self) -> None:
        """Finish the file and publish it, complete, at the final path."""

    def abort(self) -> None:
        """Discard everything written, also after close; safe to call twice."""


class SinkFactory(Protocol):
    """What a format is registered as: ``factory(path, table)`` opens a :class:`Sink`, and
    ``extension`` names its files. A Sink class is one (FileSink subclasses are)."""

    @property
    def extension(self) -> str: ...

    def __call__(self, path: Path, table: Table) -> Sink: ...


class FileSink:
    """Base for file formats: temporary file, rename on close, removal on abort.

    Subclasses set ``extension`` and implement ``_open(path)``, ``write``,
    ``_finish()`` (flush and close the temporary file) and ``_discard()``
    (close it without caring about its content).

    A format may also split writing in two, so that ``--jobs`` can encode in
    worker processes: ``encoder(table)`` returns a function from records to a
    payload (picklable), and ``write_encoded(payload)`` writes one. Formats
    without an encoder are written from the main process.

    An OSError (no space, no permission, the directory gone) from opening, writing,
    ``drain`` or closing is a :class:`SinkError` naming the file, the same in every format.

    A format that writes ``constants`` (see :class:`Sink`) sets ``accepts_constants``; its
    batches, and payloads encoded elsewhere, come without them: the sink adds them.
    """

    extension = ""
    accepts_constants = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in _WRITING:
            method = getattr(cls, name, None)
            if method is not None and not getattr(method, "_reports_os_errors", False):
                setattr(cls, name, _reporting_os_errors(method))

    @classmethod
    def encoder(cls, table: Table) -> Callable[[Sequence[Record]], Any] | None:
        """A function from records to a payload for :meth:`write_encoded`; None if the format has none."""
        return None

    def write_encoded(self, payload: Any) -> None:
        raise NotImplementedError

    def __init__(self, path: Path, table: Table, *, constants: Mapping[str, str] | None = None):
        if constants and not self.accepts_constants:
            raise TypeError(f"{type(self).__name__} does not write constant columns")
        self.path = Path(path)
        self.table: Table = table
        self.constants = dict(constants or {})
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.part")
        self._state = "open"
        try:
            self._open(self._tmp)
        except BaseException as exc:  # Ctrl-C while opening too: nobody else knows the file yet
            self._remove(self._tmp)
            if isinstance(exc, OSError):
                raise self._os_error(exc) from None
            raise

    def _os_error(self, exc: OSError) -> SinkError:
        """One line for any OSError: the file and the system's words for its errno (Arrow's
        messages wrap the same errno in text of their own)."""
        reason = os.strerror(exc.errno) if exc.errno else exc.strerror or str(exc)
        return SinkError(f"cannot write {self.path}: {reason}")

    def _open(self, path: Path) -> None:
        raise NotImplementedError

    def write(self, records: Sequence[Record]) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        raise NotImplementedError

    def _discard(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        if self._state != "open":
            raise SinkError(f"{self.path}: close() after {self._state}")
        try:
            self._finish()
            os.replace(self._tmp, self.path)
        except OSError as exc:
            self.abort()
            raise self._os_error(exc) from None
        self._state = "closed"

    def abort(self) -> None:
        if self._state == "open":
            try:
                self._discard()
            except OSError:  # closing a file being thrown away can fail again (the disk is still full)
                pass
            finally:
                self._remove(self._tmp)
        elif self._state == "closed":
            self._remove(self.path)
        self._state = "aborted"

    @staticmethod
    def _remove(path: Path) -> None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


#: The FileSink methods that write: their OSErrors become a SinkError naming the file.
_WRITING = ("write", "write_encoded", "drain")


def _reporting_os_errors(method: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(method)
    def wrapper(self: FileSink, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except OSError as exc:
            raise self._os_error(exc) from None

    wrapper._reports_os_errors = True  # type: ignore[attr-defined]  # a mark on the function object, read by __init_subclass__
    return wrapper
