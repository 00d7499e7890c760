"""Batches pushed by the pipeline, pulled by a writer that takes a RecordBatchReader.

pyarrow's dataset writer and deltalake's writer both consume a reader; the pipeline
pushes batches as they fill. A feed runs the writer on a thread of its own and hands it
the batches through a short queue, so at most DEPTH batches wait (memory stays flat) and
the writer's encoding and I/O overlap the parsing.
"""

from __future__ import annotations

import queue
import threading
from typing import Callable, Iterator

import pyarrow as pa

from .._errors import SinkError

#: Batches waiting for the writer at most.
DEPTH = 2
_END = object()
_ABORT = object()


class _Aborted(Exception):
    """Raised inside the writer's reader when the run fails: the writer stops, commits nothing."""


class BatchFeed:
    """Runs ``write(reader)`` on a thread; :meth:`put` batches, then :meth:`finish` or :meth:`abort`."""

    def __init__(self, schema: pa.Schema, write: Callable[[pa.RecordBatchReader], None], what: str):
        self._queue: queue.Queue = queue.Queue(maxsize=DEPTH)
        self._what = what
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(schema, write), name="apsis-export-feed", daemon=True)
        self._thread.start()

    def _batches(self) -> Iterator[pa.RecordBatch]:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if item is _ABORT:
                raise _Aborted("the run failed")
            yield item

    def _run(self, schema: pa.Schema, write: Callable[[pa.RecordBatchReader], None]) -> None:
        try:
            write(pa.RecordBatchReader.from_batches(schema, self._batches()))
        except BaseException as exc:  # handed to the caller's thread
            self._error = exc

    def _raise(self) -> None:
        error = self._error
        if isinstance(error, SinkError):
            raise error
        raise SinkError(f"cannot write {self._what}: {error}") from error

    def put(self, batch: pa.RecordBatch) -> None:
        """Hand on a batch, waiting while DEPTH batches wait; the writer's error is raised here."""
        while True:
            if self._error is not None or not self._thread.is_alive():
                self._raise()
            try:
                self._queue.put(batch, timeout=0.2)
                return
            except queue.Full:
                continue

    def finish(self) -> None:
        """End the stream and wait for the writer; raise its error."""
        if self._thread.is_alive():
            self.put(_END)
            self._thread.join()
        if self._error is not None:
            self._raise()

    def abort(self) -> None:
        """Stop the writer (its reader raises) and wait for it; no errors."""
        while self._thread.is_alive():
            try:
                self._queue.put(_ABORT, timeout=0.2)
                break
            except queue.Full:
                try:  # make room: the batches waiting are dropped anyway
                    self._queue.get_nowait()
                except queue.Empty:
                    pass
        self._thread.join()
