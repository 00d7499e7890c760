"""The export body on its way in: read as a file, checked for cuts, optionally saved.

Bytes are handed on exactly as they came (``decode_content=False``): a gzip body
stays gzip, for the converter's own gzip sniffing and for the saved file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

import urllib3

from .._errors import InputError, SinkError
from .._gzip import GZIP_MAGIC, GzipError, GzipMembers
from ._errors import DownloadError


class ExportStream:
    """The body of a ready export, read like a binary file (``read(n)``), in constant memory.

    A body that ends early (connection closed or reset, silent for longer than the
    read timeout, fewer bytes than ``Content-Length``) raises :class:`DownloadError`
    instead of looking like a normal end.
    """

    def __init__(self, response: urllib3.BaseHTTPResponse, url: str):
        self._response = response
        #: The poll URL the body came from.
        self.name = url
        length = response.headers.get("Content-Length")
        #: Size of the body as sent (compressed for gzip), if the server said.
        self.content_length: int | None = int(length) if length and length.isdigit() else None
        #: True when the server sent ``Content-Encoding: gzip``.
        self.compressed = response.headers.get("Content-Encoding", "").strip().lower() == "gzip"
        #: Bytes of body read so far.
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (all that is left for -1); b"" only at a verified end."""
        try:
            data = self._response.read(None if size is None or size < 0 else size, decode_content=False)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise DownloadError(f"download cut: {_reason(exc)}") from None
        self.bytes_read += len(data)
        if (
            not data
            and size != 0
            and self.content_length is not None
            and self.bytes_read < self.content_length
        ):
            raise DownloadError(f"download cut: {self.bytes_read:,} of {self.content_length:,} bytes arrived")
        return data

    def close(self) -> None:
        """Drop the connection (an unread rest of the body is not drained)."""
        if self._response.isclosed():  # type: ignore[attr-defined]  # an HTTPResponse: urllib3 types it as its base
            self._response.release_conn()
        else:
            self._response.close()

    def __enter__(self) -> ExportStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _reason(exc: BaseException) -> str:
    """A short reason for a urllib3 error: the cause, without the pool and URL around it."""
    cause = getattr(exc, "reason", None) or exc
    text = cause.args[0] if cause.args and isinstance(cause.args[0], str) else str(cause)
    if isinstance(cause, urllib3.exceptions.NewConnectionError) and ": " in text:
        text = "cannot connect: " + text.rsplit(": ", 1)[1]
    return text


class SavedBody:
    """Writes what is read through :meth:`read` to ``path.part``; :meth:`commit` renames it to ``path``.

    With ``check_gzip`` a gzip body must end with a complete gzip stream, checked
    as the bytes pass (nobody else parses them when only saving).

    ``.part`` is created owner-only (0o600) from the start, never widened later but
    for an explicit ``mode``: an export holds personal data, and a file created with
    the umask's usual 0o644 is readable by every user of the machine. The rename keeps
    the permissions.
    """

    def __init__(
        self, stream: ExportStream, path: str | os.PathLike[str], *, check_gzip: bool, mode: int = 0o600
    ):
        self.path = Path(path)
        self.part = self.path.with_name(self.path.name + ".part")
        self._stream = stream
        self._gzip = _GzipCheck() if check_gzip else None
        try:
            self.part.parent.mkdir(parents=True, exist_ok=True)
            self._file = _create_private(self.part, mode)
        except OSError as exc:
            raise SinkError(f"cannot write {self.part}: {exc.strerror or exc}") from None
        self.name = getattr(stream, "name", str(path))

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        if data:
            try:
                self._file.write(data)
            except OSError as exc:
                raise SinkError(f"cannot write {self.part}: {exc.strerror or exc}") from None
            if self._gzip is not None:
                self._gzip.feed(data)
        return data

    def commit(self) -> Path:
        """Read to the end, verify, and rename ``.part`` to the final name."""
        while self.read(1 << 20):
            pass
        if self._gzip is not None and not self._gzip.complete:
            raise InputError(
                f"the downloaded gzip stream is not complete: {self._gzip.problem}; nothing was kept"
            )
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            os.replace(self.part, self.path)
        except OSError as exc:
            raise SinkError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        return self.path

    def discard(self) -> None:
        """Remove the partial file."""
        self._file.close()
        try:
            os.unlink(self.part)
        except FileNotFoundError:
            pass


def _create_private(path: Path, mode: int) -> BinaryIO:
    """``path`` created anew, owner-only, then given ``mode`` (0o600 leaves it as created).

    A stale ``path`` (an earlier run's ``.part``) is removed first, so that O_EXCL makes
    the file ours with our permissions rather than reusing one with wider ones.
    """
    if not 0 <= mode <= 0o777:
        raise ValueError(f"mode must be permission bits 0o000..0o777, not {mode:#o}")
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o600)
    try:
        if mode != 0o600:
            os.fchmod(fd, mode)
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise


class _GzipCheck:
    """Follows a byte stream; ``complete`` when it is plain, or gzip whose last member ended."""

    def __init__(self) -> None:
        self._head = b""
        self._is_gzip: bool | None = None
        self._members = GzipMembers()
        self.problem: str | None = None

    def feed(self, data: bytes) -> None:
        if self._is_gzip is None:
            self._head += data
            if len(self._head) < 2:
                return
            self._is_gzip, data = self._head[:2] == GZIP_MAGIC, self._head
        if not self._is_gzip or self.problem is not None:
            return
        self._members.feed(data)
        try:
            while self._members.inflate(1 << 20):  # bounded output: constant memory for any body
                pass
        except GzipError as exc:
            self.problem = f"corrupt: {exc}"

    @property
    def complete(self) -> bool:
        """True for a plain body, or for gzip whose last member ended cleanly."""
        if not self._is_gzip:
            return True  # plain, or fewer than 2 bytes
        if self.problem is None and (self._members.in_member or self._members.members == 0):
            self.problem = "it ends before its last member does"
        return self.problem is None
