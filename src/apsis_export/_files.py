"""Small files written whole: a reader finds the finished file or none (metadata, reports)."""

from __future__ import annotations

import os
from pathlib import Path

from ._errors import ApsisExportError


def write_text_whole(path: str | os.PathLike[str], text: str, error: type[ApsisExportError]) -> Path:
    """Write ``text`` to ``path`` through a temporary name beside it, renamed when complete;
    an OSError becomes ``error`` naming the file, and the temporary file is removed."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise error(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
