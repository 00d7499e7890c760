"""Writing beside the parsing: Arrow's Parquet and CSV writers release the GIL while
they encode and compress (and so does Arrow's join of JSON lines), so a sink hands them
its batches on a thread of its own and the main thread reads on. With the compiled step that is the other half of the work:
one process then keeps two cores busy.

Where every core already has a process converting a file (convert_many's workers, as many as
the cores), a second thread per process has no core of its own: it only adds switches between
threads and caches shared by both, and the writes run in the caller's thread instead
(:attr:`BackgroundWriter.inline`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

#: Writes queued at most per sink (one running, or waiting while the next batch is made):
#: bounds the memory of batches handed on.
DEPTH = 1


class BackgroundWriter:
    """Calls run in order on one thread. An error is raised in the caller's thread at the
    next :meth:`submit` or at :meth:`drain`; the caller then aborts."""

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self._pending: deque[Future] = deque()

    #: Run each call at once in the caller's thread (set for a whole process: see the module doc).
    inline = False

    def submit(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Queue ``call(*args, **kwargs)``, first waiting while DEPTH calls are queued (or, inline,
        make it now)."""
        if self.inline:
            call(*args, **kwargs)
            return
        while len(self._pending) >= DEPTH:
            self._pending.popleft().result()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="apsis-export-writer")
        self._pending.append(self._executor.submit(call, *args, **kwargs))

    def drain(self) -> None:
        """Wait for every queued call and end the thread (a later submit starts another),
        raising the first error: before a close, and before --jobs forks its workers."""
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self.stop()

    def stop(self) -> None:
        """Drop the calls not started, wait for the running one, end the thread; no errors."""
        for future in self._pending:
            future.cancel()
        self._pending.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None


class BackgroundSink:
    """For a FileSink that hands its writes to ``self._background`` (a BackgroundWriter): the
    drain, finish and discard every such sink shares. The sink opens ``self._file`` and, where
    a format writer sits in front of it, ``self._writer`` (closed first)."""

    _background: BackgroundWriter
    _file: Any
    _writer: Any = None

    def drain(self) -> None:
        """Wait until every batch handed on is written (and the writer thread ends)."""
        self._background.drain()

    def _finish(self) -> None:
        self._background.drain()
        self._close()

    def _discard(self) -> None:
        self._background.stop()
        self._close()

    def _close(self) -> None:
        """Close the format writer, then the file, also when the writer's close fails (a full
        disk): an aborted file's space is then freed at once, not when the writer is collected."""
        try:
            if self._writer is not None:
                self._writer.close()
        finally:
            self._file.close()
