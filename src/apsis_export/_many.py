"""Many exports into one dataset per table: a file per worker process, in parallel.

:func:`convert_many` expands its inputs (paths, URIs, globs: :mod:`._inputs`) and hands each
file to :func:`convert` in a worker process with ``export=``: every row gets an ``export``
column and each input's rows go to files named after it in the shared datasets, committed by
the outputs' one rule (staged, moved to their final names when that input completes). So an
input that fails leaves no file, and the others are untouched by it.

Workers start as ``--jobs`` workers do (``_parallel.start_method``): from multiprocessing's fork
server (spawned where there is none) in a library call, never forked from the host, whose
threads may hold locks; so a script that calls :func:`convert_many` at its top level needs the
``if __name__ == "__main__":`` guard. The ``apsis-export`` command owns its process and forks.
A worker converts one file at a time (``jobs=1`` inside), in the pipeline's flat memory, and is
reused for the next file (a fresh process per file costs its imports, ~0.3 s); its cyclic
garbage collector is off, as in ``--jobs`` workers. A conversion alone keeps about 1.5 cores
busy (its sinks write on a thread beside the parsing); with a worker on every core, workers
write in their converting thread instead (:mod:`.sinks._background`), so the cores are shared
by as many threads as there are cores, not twice as many.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import posixpath
import queue as queues
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiprocessing.queues import Queue as ProcessQueue

try:
    import resource
except ImportError:  # not on Windows: no CPU or peak memory figures per input
    resource = None  # type: ignore[assignment]  # the module, or None where there is none

from . import _parallel
from ._convert import convert_with
from ._engines import DEFAULT_ENGINE
from ._errors import ApsisExportError, OptionsError
from ._inputs import InputLike, display, expand, export_name, identify, input_size, opened
from ._metadata import Metadata
from ._modes import EngineName, ExportId, IfExists, InputLayout, Layout
from ._pipeline import EXPORT_COLUMN, ConvertOptions, ConvertSummary
from ._progress import REPORT_EVERY_S, Progress
from ._wide import WideSchema
from .outputs import FILE_MODE, check_dataset_format, dataset_files, locate, output_stem
from .sinks._background import BackgroundWriter

#: What a failed input's exit code is on the command line: some inputs failed (the others
#: converted, or were not started without keep_going).
EXIT_SOME_FAILED = 9


def export_stem(uri: str) -> str:
    """The file name without its .json/.jsonl/.gz endings: ``day-1.json.gz`` -> ``day-1``."""
    return re.sub(r"(\.(json|jsonl|gz|gzip))+$", "", export_name(uri), flags=re.IGNORECASE)


def export_parent(uri: str) -> str:
    """The name of the folder holding the file: ``exports/2024-06-01/export.json`` -> ``2024-06-01``
    (one folder per day, every file named alike)."""
    return posixpath.basename(posixpath.dirname(display(uri).rstrip("/"))) or export_name(uri)


#: The ``export`` column's rules by name (the CLI's --export-id): the file name (the default),
#: the file name without .json/.gz, the parent folder's name.
EXPORT_IDS: dict[ExportId, Callable[[str], str]] = {
    ExportId.NAME: export_name,
    ExportId.STEM: export_stem,
    ExportId.PARENT: export_parent,
}


def export_rule(export_id: Callable[[str], str] | ExportId | str) -> Callable[[str], str]:
    """The function that gives an input's export id: ``export_id`` itself, or the rule of
    that name in ``EXPORT_IDS``."""
    return export_id if callable(export_id) else EXPORT_IDS[ExportId(export_id)]


@dataclass
class InputSummary:
    """What happened to one input: ``status`` "converted" (``summary``), "skipped" (its files
    were in the dataset already, it was not read), "failed" (``error``) or "not started" (an
    earlier input failed without keep_going)."""

    input: str  # as shown (a URI without its query)
    export: str  # the value of its rows' export column
    status: str
    size: int | None = None  # bytes, as stored
    summary: ConvertSummary | None = None
    error: str | None = None
    #: The worker process's CPU seconds for this input and its peak resident bytes so far (a worker
    #: converts file after file: a flat memory shows as the same peak after each); None where the
    #: platform does not say.
    cpu_seconds: float | None = None
    peak_rss: int | None = None

    def __str__(self) -> str:
        if self.status == "converted":
            return f"{self.export}: {self.summary}"
        if self.status == "skipped":
            return f"{self.export}: skipped, its files are in the dataset already (not read)"
        if self.status == "failed":
            return f"{self.input}: {self.error}; none of its files were written"
        return f"{self.export}: not started (an input failed)"


@dataclass
class ManySummary:
    """What :func:`convert_many` did: a summary per input, in input order, and the total
    (``str()`` gives the total's line)."""

    inputs: list[InputSummary]
    seconds: float = 0.0
    outputs: dict[str, Path | str] = field(
        default_factory=dict
    )  # a table's dataset directory (a URI remotely)

    def _with(self, status: str) -> list[InputSummary]:
        return [i for i in self.inputs if i.status == status]

    @property
    def converted(self) -> list[InputSummary]:
        return self._with("converted")

    @property
    def skipped(self) -> list[InputSummary]:
        return self._with("skipped")

    @property
    def failed(self) -> list[InputSummary]:
        return self._with("failed")

    @property
    def ok(self) -> bool:
        """True when no input failed (and so every input was converted or skipped)."""
        return not self.failed and not self._with("not started")

    def _summaries(self) -> list[ConvertSummary]:
        """The summaries of the inputs converted."""
        return [i.summary for i in self.converted if i.summary is not None]

    @property
    def rows(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for converted in self._summaries():
            for table, n in converted.rows.items():
                total[table] = total.get(table, 0) + n
        return total

    @property
    def profiles(self) -> int:
        return sum(s.profiles for s in self._summaries())

    @property
    def bytes_read(self) -> int:
        return sum(s.bytes_read for s in self._summaries())

    @property
    def bytes_json(self) -> int:
        return sum(s.bytes_json for s in self._summaries())

    @property
    def files_per_s(self) -> float:
        return len(self.converted) / self.seconds if self.seconds > 0 else 0.0

    @property
    def mb_per_s(self) -> float:
        """JSON MB (10^6 bytes) converted per second of the whole run."""
        return self.bytes_json / self.seconds / 1e6 if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        counts = [
            f"{len(self.converted)} converted",
            f"{len(self.skipped)} skipped",
            f"{len(self.failed)} failed",
        ]
        not_started = len(self._with("not started"))
        if not_started:
            counts.append(f"{not_started} not started")
        rows = ", ".join(f"{n:,} {t}" for t, n in self.rows.items()) or "no rows"
        return (
            f"total: {len(self.inputs)} inputs ({', '.join(counts)}); {self.profiles:,} profiles, {rows}; "
            f"{self.seconds:.2f} s, {self.files_per_s:.2f} files/s, {self.mb_per_s:.1f} MB/s"
        )


class InputsFailed(ApsisExportError):
    """Inputs of :func:`convert_many` failed; ``summary`` says what happened to each."""

    exit_code = EXIT_SOME_FAILED

    def __init__(self, summary: ManySummary):
        self.summary = summary
        first = summary.failed[0]
        more = f" (and {len(summary.failed) - 1} more failed)" if len(summary.failed) > 1 else ""
        super().__init__(f"{first.input}: {first.error}{more}")


def convert_many(
    sources: InputLike | Iterable[InputLike],
    out: str | os.PathLike[str],
    *,
    export_id: Callable[[str], str] | ExportId | str = export_name,
    jobs: int | None = None,
    keep_going: bool = False,
    if_exists: IfExists | str | None = None,
    progress: Callable[[Progress], None] | None = None,
    tables: Iterable[str] | None = None,
    engine: EngineName | str = DEFAULT_ENGINE,
    input_layout: InputLayout | str = InputLayout.AUTO,
    layout: Layout | str = Layout.LONG,
    split_events: bool = False,
    schema: WideSchema | None = None,
    strict_types: bool = False,
    dedupe: bool = False,
    names: Metadata | None = None,
    partition_by: Sequence[str] = (),
    max_rows_per_file: int | None = None,
    file_mode: int = FILE_MODE,
    format: str = "parquet",
) -> ManySummary:
    """Convert many exports into one dataset per table under ``out`` (Parquet, CSV or JSONL);
    return what happened to each input.

    ``sources`` are paths, URIs and glob patterns (``exports/*.json.gz``, ``s3://bucket/2024-*/*.gz``;
    see :func:`apsis_export._inputs.expand`). Every row gets an ``export`` column:
    ``export_id(uri)``, by default the file name (or a rule's name: ``"stem"``, ``"parent"``,
    see ``EXPORT_IDS``); each input's rows are in files named after it
    (``<table>/<export without .json/.gz>-<n>.parquet``; one ``-0.csv`` or ``-0.jsonl`` file), so
    export ids must differ. ``jobs`` files are converted at once, one per worker process, the
    largest first (None: one per core). The other options are :func:`convert`'s, applied to each
    input; the wide layout and split events need their columns up front (``names`` or
    ``schema``), since all inputs share the tables.

    ``if_exists`` is looked at before reading an input: "skip" leaves an input whose files the
    dataset holds unread (so a daily re-run over a folder converts only the new files),
    "error" fails that input, "overwrite" (and None) replaces its files. An input that fails
    leaves none of its files. Without ``keep_going`` the first failure starts no further input
    (those running finish) and raises :class:`InputsFailed` naming it; with ``keep_going``
    every input is tried and the summary lists the failures (``summary.ok`` is False).
    """
    started = time.perf_counter()
    if if_exists is not None:
        if_exists = IfExists(if_exists)
    check_dataset_format(format, partition_by=partition_by, max_rows_per_file=max_rows_per_file)
    options = ConvertOptions(
        tables=tables,
        layout=layout,
        split_events=split_events,
        schema=schema,
        strict_types=strict_types,
        dedupe=dedupe,
        names=names,
        engine=engine,
        input_layout=input_layout,
    )
    uris = expand(sources)
    if len(uris) > 1 and options.needs_first_pass:
        raise OptionsError(
            "many inputs share each table, so its columns must be known before reading: the wide "
            "layout takes them from --names with --metadata (names=) or a schema; split events "
            "from a schema"
        )
    items = _identify(uris, export_rule(export_id))
    location = locate(out)
    present = {stem for stem, _ in dataset_files(location.filesystem, location.path)}
    todo = []
    for index, item in enumerate(items):
        if output_stem(item.export) in present:
            if if_exists is IfExists.SKIP:
                item.status = "skipped"
                continue
            if if_exists is IfExists.ERROR:
                item.status, item.error = (
                    "failed",
                    (
                        f"its files are in {location.display} already (--if-exists "
                        "overwrite replaces them, skip keeps them)"
                    ),
                )
                continue
        item.size = input_size(uris[index])
        todo.append(index)
    # What each worker's convert_with takes: the options (the metadata goes to each worker once,
    # see _start) and where and how the files are written.
    task = _Task(
        str(out),
        replace(options, names=None),
        dict(
            format=format,
            partition_by=list(partition_by),
            max_rows_per_file=max_rows_per_file,
            if_exists=if_exists,
            file_mode=file_mode,
        ),
    )
    metadata = names.raw if names is not None else None
    summary = ManySummary(items)
    if todo and (keep_going or not summary.failed):
        _run(todo, uris, items, task, metadata, jobs, progress, keep_going=keep_going)
    for index in todo:
        if items[index].status == "pending":
            items[index].status = "not started"
    for item in items:
        if item.status == "converted" and item.summary is not None:
            summary.outputs.update(item.summary.outputs)
    summary.seconds = time.perf_counter() - started
    if summary.failed and not keep_going:
        raise InputsFailed(summary)
    return summary


def _identify(uris: list[str], export_id: Callable[[str], str]) -> list[InputSummary]:
    """Each input's summary-to-be with its export id; two inputs may not share the name their
    files carry (see identify)."""
    return [
        InputSummary(display(uri), export, "pending")
        for uri, export in identify(uris, export_id, same=output_stem)
    ]


@dataclass(frozen=True)
class _Task:
    """What every input's conversion shares: the dataset, the options, how files are written."""

    out: str
    options: ConvertOptions  # without names (the workers have them)
    output: dict[str, Any]  # convert_with's format, partition_by, max_rows_per_file, if_exists, file_mode


def _run(
    todo: list[int],
    uris: list[str],
    items: list[InputSummary],
    task: _Task,
    metadata: list[Any] | None,
    jobs: int | None,
    progress: Callable[[Progress], None] | None,
    *,
    keep_going: bool,
) -> None:
    """Convert the inputs ``todo`` (indexes) in worker processes, filling in their summaries."""
    workers = max(1, min(jobs or os.cpu_count() or 1, len(todo)))
    context = multiprocessing.get_context(_parallel.start_method)
    reports = context.Queue() if progress is not None else None
    seen: dict[int, tuple[int, int, int, int]] = {}  # index -> bytes read, JSON bytes, profiles, rows
    finished: dict[int, tuple[int, int, int, int]] = {}  # the same for inputs done: what their summary says
    total = sum(items[i].size or 0 for i in todo) or None
    start = time.perf_counter()

    def report() -> None:
        if reports is None or progress is None:  # (called only with progress)
            return
        while True:
            try:
                index, *figures = reports.get_nowait()
            except queues.Empty:
                break
            seen[index] = tuple(figures)
        latest = {**seen, **finished}.values()
        sums = [sum(f[k] for f in latest) for k in range(4)]
        progress(Progress(sums[0], total, sums[1], sums[2], sums[3], time.perf_counter() - start))

    # Several workers take the largest inputs first: one started last would run alone at the end.
    waiting = deque(todo if workers == 1 else sorted(todo, key=lambda i: -(items[i].size or 0)))
    running: dict[Any, int] = {}
    stopping = False
    if _parallel.start_method == "fork":
        _warm()
    inline = workers >= (os.cpu_count() or 1)  # a worker on every core: no writer thread beside it
    with ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_start,
        initargs=(reports, metadata, dict(os.environ), inline),
    ) as pool:
        try:
            while running or (waiting and not stopping):
                while waiting and not stopping and len(running) < workers:
                    index = waiting.popleft()
                    running[pool.submit(_convert_one, index, uris[index], items[index].export, task)] = index
                done, _ = wait(running, timeout=REPORT_EVERY_S, return_when=FIRST_COMPLETED)
                for future in done:
                    index = running.pop(future)
                    item = items[index]
                    try:
                        item.summary, item.error, item.cpu_seconds, item.peak_rss = future.result()
                    except BrokenProcessPool:  # no input can be started after this
                        item.error = (
                            "the worker process converting it ended before its work was done (killed, "
                            "out of memory, or it could not start: a script calling convert_many() at "
                            "its top level needs 'if __name__ == \"__main__\":' around it)"
                        )
                        stopping = True
                    item.status = "failed" if item.error is not None else "converted"
                    if item.status == "failed" and not keep_going:
                        stopping = True
                    if item.summary is not None:
                        result = item.summary
                        finished[index] = (
                            result.bytes_read,
                            result.bytes_json,
                            result.profiles,
                            result.total_rows,
                        )
                    else:  # a failed input's bytes count as done: the bar ends full
                        finished[index] = (item.size or 0, *seen.get(index, (0, 0, 0, 0))[1:])
                if progress is not None:
                    report()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)  # Ctrl-C: workers abort their runs (no files)
            raise


def _warm() -> None:
    """Import here what a conversion imports at its first batch, so that workers forked from this
    process start with it: pyarrow imports pandas, where it is installed, when it first builds an
    array from Python values (~0.2 s of CPU, then once rather than once per worker)."""
    import pyarrow as pa

    pa.array([], pa.string())


_worker: dict[str, Any] = {}


def _start(
    reports: ProcessQueue[Any] | None, metadata: list[Any] | None, environ: dict[str, str], inline: bool
) -> None:
    """Set a worker process up (the pool's initializer): where progress goes, the metadata, and
    the caller's environment as it is now (a forkserver's children have the server's, from its
    start: credentials set since, e.g. AWS_*, would be missing). The process is ours: its cyclic
    garbage collector is off (reference counting frees a conversion's acyclic objects), and with
    ``inline`` (a worker on every core) its sinks write in the converting thread (see
    :mod:`.sinks._background`)."""
    gc.disable()
    BackgroundWriter.inline = inline
    os.environ.clear()
    os.environ.update(environ)
    _worker["reports"] = reports
    _worker["names"] = Metadata(metadata) if metadata is not None else None


def _convert_one(
    index: int, uri: str, export: str, task: _Task
) -> tuple[ConvertSummary | None, str | None, float | None, int | None]:
    """Convert one input in a worker: its summary or the error's one line, the CPU seconds it took
    and the process's peak RSS."""
    reports = _worker["reports"]
    progress = None
    if reports is not None:

        def progress(p: Progress) -> None:
            reports.put((index, p.bytes_read, p.bytes_json, p.profiles, p.rows))

    cpu = _cpu_seconds()
    summary = error = None
    try:
        with opened(uri) as source:
            options = replace(task.options, names=_worker["names"])
            summary = convert_with(
                source, task.out, options, export=export, jobs=1, progress=progress, **task.output
            )
    except ApsisExportError as exc:
        error = str(exc)
    except Exception as exc:  # a bug of ours: still one line for this input, the others go on
        error = f"unexpected {type(exc).__name__}: {exc} (this is a bug)"
    after = _cpu_seconds()
    return summary, error, (after - cpu if after is not None and cpu is not None else None), _peak_rss()


def _cpu_seconds() -> float | None:
    if resource is None:
        return None
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss() -> int | None:
    if resource is None:
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


__all__ = [
    "EXIT_SOME_FAILED",
    "EXPORT_COLUMN",
    "EXPORT_IDS",
    "InputSummary",
    "InputsFailed",
    "ManySummary",
    "convert_many",
    "export_parent",
    "export_rule",
    "export_stem",
]
