"""Open anything into the JSON byte stream of an export.

A source is a path, ``"-"`` for stdin, or a binary file object (an HTTP body,
say). gzip is recognised by its magic bytes, never by the file name. The opened
:class:`Source` counts bytes on both sides of decompression: raw bytes for
progress, JSON bytes for error offsets. Knows nothing about JSON itself.
"""

from __future__ import annotations

import io
import os
import queue
import sys
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol, Union

from ._errors import InputError
from ._gzip import GZIP_MAGIC, STEP, GzipError, GzipReader

if TYPE_CHECKING:
    from _typeshed import SupportsRead

SourceLike = Union[str, "os.PathLike[str]", BinaryIO]


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _ReadAhead:
    """A stream read on a thread of its own, a few steps ahead of the parser: inflating gzip
    (isal and zlib release the GIL) then runs beside the parsing. What the stream raises
    arrives in order, after every byte read before it."""

    def __init__(self, stream: _Readable, step: int = STEP, depth: int = 4):
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(depth)
        self._stopping = threading.Event()
        self._chunk, self._at, self._done = b"", 0, False
        self._thread = threading.Thread(
            target=self._run, args=(stream, step), daemon=True, name="apsis-export-read-ahead"
        )
        self._thread.start()

    def _run(self, stream: _Readable, step: int) -> None:
        try:
            while not self._stopping.is_set():
                data = stream.read(step)
                self._put(data)
                if not data:
                    return
        except BaseException as exc:  # handed to the reader, in order
            self._put(exc)

    def _put(self, item: bytes | BaseException) -> None:
        while not self._stopping.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def read(self, size: int = -1) -> bytes:
        if size == 0:
            return b""
        if self._at >= len(self._chunk):
            if self._done:
                return b""
            item = self._queue.get()
            if isinstance(item, BaseException):
                self._done = True
                raise item
            if not item:
                self._done = True
                return b""
            self._chunk, self._at = item, 0
        if self._at == 0 and (size < 0 or size >= len(self._chunk)):
            data = self._chunk
        else:
            end = len(self._chunk) if size < 0 else self._at + size
            data = self._chunk[self._at : end]
        self._at += len(data)
        return data

    def stop(self) -> None:
        """Stop the thread (it may be waiting on a read that cannot be interrupted: not waited for long)."""
        self._stopping.set()
        self._thread.join(timeout=1)


class _CountingRaw(io.RawIOBase):
    """Raw stream over any object with ``read``; counts the bytes it hands out."""

    def __init__(self, inner: SupportsRead[bytes]):
        self._inner = inner
        # Files (and stdin, HTTP bodies) read straight into the caller's buffer: one copy less.
        self._readinto = getattr(inner, "readinto", None)
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]  # io hands a memoryview
        if self._readinto is not None:
            n = self._readinto(buffer) or 0
        else:
            data = self._inner.read(len(buffer))
            n = len(data)
            buffer[:n] = data
        self.count += n
        return n


class Source:
    """An opened export: read JSON bytes from it, ask it how far it got.

    Use :func:`open_source` to make one; close it (or use ``with``) when done.
    """

    def __init__(self, raw: SupportsRead[bytes], *, name: str, total_bytes: int | None, closer: ExitStack):
        self.name = name
        #: Size of the input as stored (compressed size for gzip), if known.
        self.total_bytes = total_bytes
        self._closer = closer
        self._raw = _CountingRaw(raw)
        buffered = io.BufferedReader(self._raw, buffer_size=1 << 16)
        #: True when the input is gzip-compressed (detected from its magic bytes).
        self.compressed = buffered.peek(2)[:2] == GZIP_MAGIC
        self._stream: _Readable = GzipReader(buffered) if self.compressed else buffered
        self._json_offset = 0
        self._last_chunk = b""  # the latest bytes handed to the parser, to locate its errors

    def read_ahead(self) -> None:
        """Inflate gzip input on a thread of its own from now on (a no-op for plain input).
        Not with --jobs: no thread may run when workers are forked."""
        if self.compressed and not isinstance(self._stream, _ReadAhead):
            ahead = _ReadAhead(self._stream)
            self._stream = ahead
            self._closer.callback(ahead.stop)

    @property
    def bytes_read(self) -> int:
        """Bytes consumed from the input as stored (compressed bytes for gzip)."""
        return self._raw.count

    @property
    def json_offset(self) -> int:
        """Bytes of JSON text handed to the parser so far."""
        return self._json_offset

    def read(self, size: int = -1) -> bytes:
        """Read up to ``size`` bytes of JSON text; read and decompression errors become InputError."""
        try:
            data = self._stream.read(size)
        except EOFError:
            raise InputError(
                "truncated gzip input: the compressed stream ends early", offset=self._json_offset
            ) from None
        except GzipError as exc:
            raise InputError(f"corrupt gzip input: {exc}", offset=self._json_offset) from None
        except OSError as exc:
            raise InputError(f"cannot read input: {exc}", offset=self._json_offset) from None
        self._last_chunk = data
        self._json_offset += len(data)
        return data

    @property
    def last_chunk(self) -> tuple[int, bytes]:
        """The offset and bytes of the latest read: where a parse error must lie."""
        return self._json_offset - len(self._last_chunk), self._last_chunk

    def close(self) -> None:
        self._closer.close()

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_source(source: SourceLike | Source) -> Source:
    """Open a path, ``"-"`` (stdin) or a binary file object as a :class:`Source`.

    File objects passed in are not closed by the Source; paths it opened are.
    """
    if isinstance(source, Source):
        return source
    closer = ExitStack()
    if isinstance(source, (str, os.PathLike)):
        if str(source) == "-":
            return Source(sys.stdin.buffer, name="<stdin>", total_bytes=None, closer=closer)
        path = Path(source)
        try:
            fileobj = closer.enter_context(open(path, "rb"))
        except OSError as exc:
            raise InputError(f"cannot open {path}: {exc.strerror}") from None
        return Source(fileobj, name=str(path), total_bytes=os.fstat(fileobj.fileno()).st_size, closer=closer)
    if not hasattr(source, "read") or isinstance(source, io.TextIOBase):
        raise TypeError(f"source must be a path, '-' or a binary file object, not {type(source).__name__}")
    return Source(source, name=getattr(source, "name", "<stream>"), total_bytes=None, closer=closer)
