"""The one commit rule, for every target: files are written under a hidden staging
directory in the output directory (``.apsis-export-<input>-<run>/``), and only a complete
run moves them to their final names; a failed run deletes the staging directory.

Object stores have no rename: a move there is a copy and a delete, so the staging is on
the same store and only the short final step touches final names. A run killed outright
(``kill -9``) leaves its hidden staging directory, never a final name; readers skip it
(pyarrow's datasets ignore names that start with a dot, and a table's path or glob does not
reach it). Delta tables commit through their own log instead (see ``_delta.py``).

Exports hold personal data (profile keys are often e-mail addresses): on a local disk the
staging directory is owner-only (0700) while files are written in it, and every file gets
``file_mode`` (0600 by default, owner-only) before it is moved to its final name.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

import pyarrow.fs as pafs

from .._errors import SinkError
from .._modes import IfExists
from ._filesystems import Location

#: Permissions of the files a run writes on a local disk: owner-only, exports hold personal data.
FILE_MODE = 0o600
#: Staging directories start so: hidden, and named after the input.
STAGING_PREFIX = ".apsis-export-"


def _describe(exc: BaseException) -> str:
    """The system's words for an OSError's errno, as the sinks give them (one face per fault)."""
    errno = getattr(exc, "errno", None)
    return os.strerror(errno) if errno else getattr(exc, "strerror", None) or str(exc)


class Output:
    """The files of one run in one output directory (see the module doc).

    Sinks ask where to write (:meth:`local_file` for the file formats, :meth:`dataset_dir`
    for datasets) and report what they finished (:meth:`file_done`, :meth:`dataset_done`);
    the run then calls :meth:`commit`, or :meth:`abort` on any error.
    """

    def __init__(
        self,
        location: Location,
        *,
        if_exists: IfExists | str | None = None,
        stem: str = "export",
        file_mode: int = FILE_MODE,
    ):
        self.location = location
        self.fs = location.filesystem
        #: As asked (None: the target's default), and as applied to files (None: overwrite).
        self.if_exists_asked = IfExists(if_exists) if if_exists is not None else None
        self.if_exists = self.if_exists_asked or IfExists.OVERWRITE
        self.stem = stem
        self.file_mode = file_mode
        self.staging = f"{location.path}/{STAGING_PREFIX}{stem}-{uuid.uuid4().hex[:12]}"
        #: Final locations per table, for the summary: a file, or a dataset's directory.
        self.outputs: dict[str, str | Path] = {}
        self._files: list[str] = []  # relative paths staged, in order
        self._datasets: list[str] = []  # their directories: overwrite replaces this input's files there
        self._spool: str | None = None  # a private local directory for file formats on a remote filesystem
        self._table_commits: list[Callable[[], None]] = []  # table formats' commits (Delta), run first
        if location.is_local:
            try:
                self.fs.create_dir(location.path, recursive=True)
            except OSError as exc:
                raise SinkError(
                    f"cannot create output directory {location.display}: {_describe(exc)}"
                ) from None
            try:
                os.mkdir(self.staging, 0o700)  # nobody else reads the files while they are written
            except OSError as exc:
                raise SinkError(f"cannot write {location.display}{os.sep}: {_describe(exc)}") from None

    def final(self, relative: str) -> str:
        return f"{self.location.path}/{relative}"

    def _shown(self, relative: str) -> str | Path:
        return Path(self.final(relative)) if self.location.is_local else self.location.show(relative)

    def check_free(self, relative: str) -> None:
        """With if_exists "error": fail now if a final name is taken (before any parsing)."""
        if self.if_exists is IfExists.ERROR and self._taken([self.final(relative)]):
            raise SinkError(self._exists_message([relative]))

    def local_file(self, table: str, relative: str) -> Path:
        """Where a file format writes ``relative``: in the staging directory on a local disk,
        else in a private spool directory, uploaded to the staging when done."""
        self.check_free(relative)
        self.outputs[table] = self._shown(relative)
        if self.location.is_local:
            return Path(f"{self.staging}/{relative}")
        return self._spool_dir() / relative

    def _spool_dir(self) -> Path:
        """The private spool directory of files bound for elsewhere, made at first use."""
        if self._spool is None:
            self._spool = tempfile.mkdtemp(prefix=STAGING_PREFIX)  # mode 0700: exports are private
        return Path(self._spool)

    def file_done(self, relative: str) -> None:
        """A file format's file is complete (at :meth:`local_file`): stage it."""
        if not self.location.is_local:
            local = self._spool_dir() / relative
            try:
                pafs.copy_files(
                    str(local),
                    f"{self.staging}/{relative}",
                    source_filesystem=pafs.LocalFileSystem(),
                    destination_filesystem=self.fs,
                )
            except OSError as exc:
                raise SinkError(f"cannot write {self.location.show(relative)}: {_describe(exc)}") from None
            finally:
                local.unlink(missing_ok=True)
        self._files.append(relative)

    def dataset_file(self, table: str, extension: str) -> tuple[str, Path, str | Path]:
        """A file format's one file of this input in the dataset directory of ``table``, named as a
        Parquet dataset's first file (``<table>/<stem>-0.<extension>``): its relative path, where
        to write it (see :meth:`local_file`) and its final name as shown."""
        relative = f"{table}/{self.stem}-0.{extension}"
        path = self.local_file(table, relative)
        path.parent.mkdir(mode=0o700, exist_ok=True)
        self.outputs[table] = self._shown(table)
        self._datasets.append(table)
        return relative, path, self._shown(relative)

    def dataset_dir(self, table: str) -> tuple[pafs.FileSystem, str]:
        """Where a dataset's files are written: the filesystem and the table's staging directory."""
        self.outputs[table] = self._shown(table)
        self._datasets.append(table)
        return self.fs, f"{self.staging}/{table}"

    def dataset_done(self, paths: Iterable[str]) -> None:
        """A dataset's files are written (``paths`` as its writer reported them)."""
        start = len(self.staging) + 1
        self._files += [p[p.index(self.staging) + start :] if self.staging in p else p for p in paths]

    def on_commit(self, commit: Callable[[], None]) -> None:
        """Run ``commit`` (a table format's own commit, from its staged files) when the run commits."""
        self._table_commits.append(commit)

    def _taken(self, paths: list[str]) -> set[str]:
        if not paths:
            return set()
        return {info.path for info in self.fs.get_file_info(paths) if info.type != pafs.FileType.NotFound}

    def _exists_message(self, relatives: list[str]) -> str:
        relatives = sorted(relatives)
        more = f" (and {len(relatives) - 1} more)" if len(relatives) > 1 else ""
        return (
            f"{self.location.show(relatives[0])} exists{more}; nothing was written "
            "(--if-exists overwrite replaces it, skip keeps it)"
        )

    def _own_files(self, table: str) -> list[str]:
        """This input's files in a final dataset directory (named <stem>-<n>.parquet, .csv, .jsonl)."""
        return [path for stem, path in dataset_files(self.fs, self.final(table)) if stem == self.stem]

    def commit(self) -> None:
        """Move every staged file to its final name (by ``if_exists``), then remove the staging."""
        finals = {relative: self.final(relative) for relative in self._files}
        taken = self._taken(list(finals.values()))
        if taken and self.if_exists is IfExists.ERROR:
            raise SinkError(self._exists_message([r for r, f in finals.items() if f in taken]))
        try:
            for table_commit in self._table_commits:
                table_commit()
            if self.if_exists is IfExists.OVERWRITE:
                stale = [
                    path for table in self._datasets for path in self._own_files(table) if path not in taken
                ]
                for path in stale:
                    self.fs.delete_file(path)
            for relative, final in finals.items():
                if self.if_exists is IfExists.SKIP and final in taken:
                    continue
                if self.location.is_local:
                    os.chmod(f"{self.staging}/{relative}", self.file_mode)
                    self.fs.create_dir(final.rsplit("/", 1)[0], recursive=True)
                self.fs.move(f"{self.staging}/{relative}", final)
        except OSError as exc:
            raise SinkError(f"cannot write {self.location.display}: {_describe(exc)}") from None
        self._clean()

    def abort(self) -> None:
        """Remove everything this run wrote; no errors (the run's own error wins)."""
        try:
            self._clean()
        except OSError:
            pass

    def _clean(self) -> None:
        if self._spool is not None:
            shutil.rmtree(self._spool, ignore_errors=True)
            self._spool = None
        if self.fs.get_file_info(self.staging).type != pafs.FileType.NotFound:
            self.fs.delete_dir(self.staging)


#: A dataset file: <stem>-<n>.parquet, or .csv/.jsonl, one per input (the stem is the input's;
#: see output_stem).
_DATASET_FILE = re.compile(r"(.+)-\d+\.(?:parquet|csv|jsonl)")


def dataset_files(fs: pafs.FileSystem, directory: str) -> list[tuple[str, str]]:
    """(input stem, path) of every dataset file under ``directory`` (at any depth, outside the
    hidden staging directories): which inputs' files a dataset already holds."""
    found = fs.get_file_info(pafs.FileSelector(directory, recursive=True, allow_not_found=True))
    files = []
    for info in found:
        match = _DATASET_FILE.fullmatch(info.base_name)
        if match and info.type == pafs.FileType.File and f"/{STAGING_PREFIX}" not in info.path:
            files.append((match.group(1), info.path))
    return files


def output_stem(source) -> str:
    """The name this input's files carry in datasets: its file name without .json/.gz, so that
    re-running one day's export replaces that day's files and no other's."""
    if isinstance(source, (str, os.PathLike)):
        name = "stdin" if str(source) == "-" else Path(source).name
    else:
        name = Path(str(getattr(source, "name", "") or "export")).name
    name = re.sub(r"(\.(json|jsonl|gz|gzip))+$", "", name, flags=re.IGNORECASE)
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "export"
    return name
