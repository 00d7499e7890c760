"""Where an output directory lives: a local path, a URI, or a filesystem object, resolved
to a pyarrow filesystem and a path on it.

URIs go through pyarrow's own filesystems first (``s3://``, ``gs://``, ``abfs://``,
``hdfs://``, ``file://``; credentials and endpoints from the standard environment such
as ``AWS_ACCESS_KEY_ID``, ``AWS_REGION``, ``AWS_ENDPOINT_URL``, or from the URI's query,
e.g. ``?endpoint_override=127.0.0.1:9000&scheme=http``), then through fsspec when it is
installed (any protocol it knows). A ``filesystem`` object (pyarrow or fsspec) takes the
path as a path on it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs

from .._errors import OptionsError

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
#: URI schemes pyarrow's own filesystems take (FileSystem.from_uri); others go to fsspec.
PYARROW_SCHEMES = ("file", "s3", "gs", "gcs", "abfs", "abfss", "hdfs", "viewfs")


@dataclass(frozen=True)
class Location:
    """An output directory: the filesystem, the path on it, and how to show it to a user."""

    filesystem: pafs.FileSystem
    path: str
    display: str  # the path or the URI without its query (no secrets in messages)

    @property
    def is_local(self) -> bool:
        return isinstance(self.filesystem, pafs.LocalFileSystem)

    def show(self, relative: str) -> str:
        """How a file under this directory is shown (summary, messages)."""
        return f"{self.display.rstrip('/')}/{relative}"


def is_uri(out: str | os.PathLike[str]) -> bool:
    return isinstance(out, str) and bool(_URI.match(out))


def _as_pyarrow(filesystem: Any) -> pafs.FileSystem:
    """A pyarrow filesystem, or an fsspec one wrapped for pyarrow."""
    if isinstance(filesystem, pafs.FileSystem):
        return filesystem
    try:
        from fsspec import AbstractFileSystem
    except ImportError:
        AbstractFileSystem = None
    if AbstractFileSystem is not None and isinstance(filesystem, AbstractFileSystem):
        return pafs.PyFileSystem(pafs.FSSpecHandler(filesystem))
    raise TypeError(
        f"filesystem must be a pyarrow.fs.FileSystem or an fsspec filesystem, not {type(filesystem).__name__}"
    )


def locate(out: str | os.PathLike[str], filesystem: Any = None) -> Location:
    """Resolve ``out`` (a local path, a URI, or a path on ``filesystem``) to a :class:`Location`."""
    if filesystem is not None:
        fs = _as_pyarrow(filesystem)
        path = str(out).rstrip("/")
        return Location(fs, path, f"{fs.type_name}:{path}")
    if not is_uri(out):
        local = Path(out).absolute()
        return Location(pafs.LocalFileSystem(), local.as_posix(), str(out))
    uri = str(out)
    display = uri.split("?", 1)[0]
    if uri.split(":", 1)[0].lower() not in PYARROW_SCHEMES:
        return _from_fsspec(uri, display)
    try:
        fs, path = pafs.FileSystem.from_uri(uri)
    except (ValueError, OSError) as exc:
        raise OptionsError(f"cannot write to {display}: {exc}") from None
    return Location(fs, path.rstrip("/"), display)


def _from_fsspec(uri: str, display: str) -> Location:
    try:
        import fsspec
    except ImportError:
        raise OptionsError(
            f"cannot write to {display}: pyarrow has no filesystem for it and fsspec, "
            "which knows more, is not installed"
        ) from None
    try:
        fs, path = fsspec.core.url_to_fs(uri)
    except (ImportError, ValueError) as exc:
        raise OptionsError(f"cannot write to {display}: {exc}") from None
    return Location(_as_pyarrow(fs), path.rstrip("/"), display)
