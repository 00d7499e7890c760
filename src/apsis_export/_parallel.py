"""--jobs: profiles decoded, mapped and encoded in worker processes, written in file order.

The main process scans the input (the fast engine's UnitStream), sends each
Unit of raw profile members to a pool, and writes the encoded results in the
order the units were sent. A worker that meets a member only the exact engine
may read stops there; the main process then writes what came before and lets
the exact engine read the rest of the input from that member on, as the
one-process fast engine does. Small inputs never start the pool: the first
units are worked in the main process.

Workers are started by multiprocessing's fork server (or spawned where there is
none), never forked from the calling process: a host program may run threads (a
fork copies their locks held), and its memory is none of the workers' business.
A script that calls ``convert(jobs=...)`` at its top level therefore needs the
usual ``if __name__ == "__main__":`` guard (without it, or when a worker is killed,
the pool breaks and the run ends with an error saying so, instead of starting
workers again and again or waiting for ever). The command line owns its process
and forks (:data:`start_method`): its workers start at once, with everything imported.
"""

from __future__ import annotations

import gc
import multiprocessing
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from ._engines._fast import FastEngine, ResumeExact, Unit, UnitStream
from ._errors import ApsisExportError, InputError
from ._metadata import Metadata
from ._pipeline import Collector, Plan, Run
from ._progress import ProgressTicker
from ._source import Source
from .sinks import get_sink

#: Units worked in the main process before the pool is started.
INLINE_UNITS = 4

#: How workers start: "forkserver" (or "spawn" where there is no fork server). The
#: ``apsis-export`` command, which owns its process, sets "fork" (see ``cli.run``).
start_method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


@dataclass
class _Result:
    payloads: dict[str, tuple[Any, int]]  # table -> (encoded records, rows)
    profiles: int
    extras: int
    duplicates: int
    mismatches: int = 0
    unknown: set = field(default_factory=set)
    last_key: str | None = None  # key of the last member mapped
    stopped_at: int | None = None  # a member only the exact engine may read
    error: tuple[str, int, str | None] | None = None  # (problem, offset, profile key) of a wrong shape


_worker: dict[str, Any] = {}


def _start(plan: Plan, metadata: list | None) -> None:
    """Set a process up to work units (the pool's initializer)."""
    factory = get_sink(plan.format)
    _worker["plan"] = plan
    _worker["metadata"] = Metadata(metadata) if metadata is not None else None
    encoder = factory.encoder  # type: ignore[attr-defined]  # --jobs only for formats with one (_encodes_elsewhere)
    _worker["encoders"] = {name: encoder(plan.table(name)) for name in (*plan.outputs, "extras")}


def _start_worker(plan: Plan, metadata: list | None) -> None:
    """The pool's initializer: a worker process is ours, so its cyclic garbage collector is
    off (it makes millions of acyclic objects; reference counting frees them)."""
    gc.disable()
    _start(plan, metadata)


def _work(unit: Unit) -> _Result:
    """Decode, map, dedupe, name and encode every member of a unit, as the main process would."""
    metadata = _worker["metadata"]
    collector = Collector(_worker["plan"], metadata)
    result = _Result({}, 0, 0, 0)
    for index, (_, end, _) in enumerate(unit.members):
        try:
            profile = unit.profile(index, collector.into)
        except InputError as exc:
            result.error = (exc.problem, unit.start + end, exc.profile_key)
            break
        if profile is None:
            result.stopped_at = index
            break
        collector.add(profile)
        result.last_key = profile.key
    encoders = _worker["encoders"]
    result.payloads = {name: (encoders[name](records), len(records)) for name, records in collector.take()}
    result.profiles, result.extras, result.duplicates = (
        collector.profiles,
        collector.extras,
        collector.duplicates,
    )
    result.mismatches = collector.take_mismatches()
    result.unknown = collector.namer.unknown if collector.namer else set()
    return result


class _Stopped(Exception):
    def __init__(self, unit: Unit, index: int, later: list[Unit], previous_key: str | None):
        self.unit, self.index, self.later, self.previous_key = unit, index, later, previous_key


def convert_in_parallel(
    src: Source,
    layout: str,
    jobs: int,
    plan: Plan,
    names: Metadata | None,
    collector: Collector,
    run: Run,
    ticker: ProgressTicker,
) -> None:
    """The body of :func:`apsis_export.convert` with ``jobs`` worker processes."""
    stream: UnitStream = FastEngine().units(src, layout=layout)
    initargs = (plan, names.raw if names is not None else None)
    pool = None
    in_flight: deque[tuple[Unit, Any]] = deque()
    previous_key = ""
    summary = run.summary

    def write(unit: Unit, result: _Result) -> None:
        nonlocal previous_key
        run.write(collector)  # what the main process collected comes first
        summary.profiles += result.profiles
        summary.extras += result.extras
        summary.duplicate_events += result.duplicates
        summary.type_mismatches += result.mismatches
        if collector.namer is not None:
            collector.namer.unknown |= result.unknown
        for name, (payload, rows) in result.payloads.items():
            run.write_encoded(name, payload, rows)
        if result.error is not None:
            problem, offset, key = result.error
            raise InputError(problem, offset=offset, profile_key=key)
        if result.stopped_at is not None:
            later = [u for u, _ in in_flight]
            key = result.last_key if result.stopped_at > 0 else previous_key
            raise _Stopped(unit, result.stopped_at, later, key)
        if result.last_key is not None:
            previous_key = result.last_key
        ticker.tick(summary.profiles, summary.total_rows)

    def drain(keep: int = 0) -> None:
        while len(in_flight) > keep:
            unit, pending = in_flight.popleft()
            try:
                result = pending.result()
            except BrokenProcessPool:
                raise ApsisExportError(
                    "a --jobs worker process ended before its work was done (killed, out of memory, or it "
                    "could not start: a script calling convert(jobs=...) at its top level needs "
                    "'if __name__ == \"__main__\":' around it)"
                ) from None
            write(unit, result)

    def serially(profiles) -> None:
        for profile in profiles:
            collector.add(profile)
            run.write(collector, full_only=True)
            ticker.tick(summary.profiles, summary.total_rows)

    units = 0
    try:
        for item in stream:
            if isinstance(item, Unit):
                units += 1
                if pool is None and units <= INLINE_UNITS:
                    if units == 1:
                        _start(*initargs)
                    write(item, _work(item))
                    continue
                if pool is None:
                    run.drain()  # (with fork: no thread may run, one holding a lock would leave it locked)
                    pool = ProcessPoolExecutor(
                        jobs,
                        multiprocessing.get_context(start_method),
                        initializer=_start_worker,
                        initargs=initargs,
                    )
                in_flight.append((item, pool.submit(_work, item)))
                drain(keep=2 * jobs)
            elif isinstance(item, ResumeExact):
                drain()
                serially(item.profiles(previous_key))
            else:
                drain()
                serially([item])
        drain()
    except _Stopped as stop:
        serially(stream.resume_at(stop.unit, stop.index, stop.later, stop.previous_key))
    finally:
        if (
            pool is not None
        ):  # (a worker dead at start breaks the pool instead of being started again and again)
            pool.shutdown(wait=False, cancel_futures=True)
