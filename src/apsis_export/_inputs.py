"""Many input exports, named by local paths, URIs and glob patterns.

A pattern (``exports/*.json.gz``, ``s3://bucket/2024-*/**/*.gz``) is expanded through the
filesystem it names: pyarrow's own (local, ``s3://``, ``gs://``, ``abfs://``, ``hdfs://``;
endpoints and credentials from the standard environment) or fsspec's (see
:mod:`.outputs._filesystems`). Each file is then opened as a path when it is local (the
fastest reader) or as a binary stream from its filesystem; gzip is recognised by our
reader, never inflated on the way.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import BinaryIO, Union

import pyarrow.fs as pafs

from ._errors import OptionsError
from .outputs._filesystems import Location, is_uri, locate

InputLike = Union[str, "os.PathLike[str]"]

_GLOB = re.compile(r"[*?\[]")


def expand(patterns: InputLike | Iterable[InputLike]) -> list[str]:
    """The files of paths, URIs and glob patterns (``*``, ``?``, ``[...]``, ``**``), each
    pattern's matches sorted, in order, each once. A pattern that matches nothing, or a
    folder, is an error."""
    if isinstance(patterns, (str, os.PathLike)):
        patterns = [patterns]
    files: dict[str, None] = {}
    for pattern in map(str, patterns):
        found = _expand(pattern)
        if not found:
            raise OptionsError(f"no export file matches {display(pattern)}")
        files.update(dict.fromkeys(found))
    if not files:
        raise OptionsError("no input exports given")
    return list(files)


def display(uri: str) -> str:
    """How an input is shown in messages: a URI without its query (which may hold secrets)."""
    return _split_query(uri)[0]


def export_name(uri: str) -> str:
    """The file name of an input (the export's name in summaries and load state)."""
    return posixpath.basename(display(uri).rstrip("/"))


def identify(
    uris: Iterable[str], export_id: Callable[[str], str], *, same: Callable[[str], str] = str
) -> Iterator[tuple[str, str]]:
    """Each input with its export id (``export_id(uri)``), in order. Two inputs whose ids are the
    same (compared as ``same(id)``: for a dataset, the name the id gives their files) are an
    OptionsError naming both, raised when the second is reached."""
    seen: dict[str, str] = {}
    for uri in uris:
        export = str(export_id(uri))
        key = same(export)
        if key in seen:
            raise OptionsError(
                f"{display(seen[key])} and {display(uri)} are both export {key!r}: "
                "give export_id= (--export-id) a rule that tells them apart"
            )
        seen[key] = uri
        yield uri, export


def input_size(uri: str) -> int | None:
    """The size of an input file in bytes (None where its filesystem does not say)."""
    location = _locate(uri)
    return location.filesystem.get_file_info(location.path).size


@contextmanager
def opened(uri: str) -> Iterator[str | BinaryIO]:
    """An input as our reader takes it: a local path, else an open binary stream."""
    location = _locate(uri)
    if location.is_local:
        yield location.path
    else:
        with location.filesystem.open_input_stream(location.path, compression=None) as body:
            yield body


def _locate(uri: str) -> Location:
    try:
        return locate(uri)
    except OptionsError as exc:
        raise OptionsError(str(exc).replace("cannot write to", "cannot read")) from None


def _split_query(pattern: str) -> tuple[str, str]:
    """A URI's query (``?endpoint_override=...``) apart from its path; ``?`` is otherwise a glob."""
    if is_uri(pattern) and "?" in pattern:
        head, _, query = pattern.rpartition("?")
        if "=" in query and "/" not in query:
            return head, "?" + query
    return pattern, ""


def _expand(pattern: str) -> list[str]:
    path, query = _split_query(pattern)
    scheme_end = path.find("://") + 3 if is_uri(path) else 0
    glob = _GLOB.search(path, scheme_end)
    if not glob:
        location = _locate(pattern)
        info = location.filesystem.get_file_info(location.path)
        if info.type == pafs.FileType.Directory:
            raise OptionsError(
                f"{display(pattern)} is a folder: name its files, e.g. {path.rstrip('/')}/*.json.gz"
            )
        return [pattern] if info.type == pafs.FileType.File else []
    cut = path.rfind("/", scheme_end, glob.start())
    base, tail = (path[:cut] or "/", path[cut + 1 :]) if cut >= 0 else (".", path)
    location = _locate(base + query)
    globs = tail.split("/")
    root = location.path.rstrip("/") or "/"
    selector = pafs.FileSelector(root, recursive=len(globs) > 1, allow_not_found=True)
    found = []
    for info in location.filesystem.get_file_info(selector):
        relative = posixpath.relpath(info.path, root)
        if info.type == pafs.FileType.File and _matches(relative.split("/"), globs):
            found.append((f"{base.rstrip('/')}/{relative}" if cut >= 0 else relative) + query)
    return sorted(found)


def _matches(parts: list[str], globs: list[str]) -> bool:
    """Path segments against glob segments; ``**`` matches any number of segments."""
    if not globs:
        return not parts
    if globs[0] == "**":
        return any(_matches(parts[i:], globs[1:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], globs[0]) and _matches(parts[1:], globs[1:])
