"""Library calls leave the host program's interpreter as they found it: the int digit limit,
the cyclic garbage collector, signal handlers; ``--jobs`` from a library call does not fork
the calling process (its workers come from a fork server). Only the ``apsis-export``
command, which owns its process, tunes it (tests/test_cli.py runs it in-process through
``main``, which does not; ``run`` does)."""

from __future__ import annotations

import gc
import io
import os
import signal
import subprocess
import sys
from contextlib import contextmanager

import pytest

import apsis_export
from apsis_export import _parallel
from apsis_export._engines import _units

from .conftest import SAMPLE_DATA
from .test_jobs import files

HAS_LIMIT = hasattr(sys, "get_int_max_str_digits")


def interpreter_state() -> tuple:
    handlers = tuple(
        signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE)
    )
    return (sys.get_int_max_str_digits() if HAS_LIMIT else None, gc.isenabled(), gc.get_threshold(), handlers)


def long_integer_export(n: int) -> bytes:
    """Profiles with a 10,000-digit integer each (beside a lone surrogate: the exact engine reads them)."""
    members = ",".join(
        f'"p{i}": {{"sections": {{"s": {{"attributes": {{"s": {{"value": "\\ud800"}}, '
        f'"n": {{"value": {i + 1}{"7" * 10_000}}}}}}}}}}}'
        for i in range(n)
    )
    return ('{"profiles": {' + members + "}}").encode()


@pytest.mark.parametrize("engine", ["fast", "exact"])
def test_two_generators_advanced_alternately_leave_the_interpreter_alone(engine):
    before = interpreter_state()
    data = long_integer_export(5)
    first = apsis_export.read_profiles(io.BytesIO(data), engine=engine)
    second = apsis_export.read_profiles(io.BytesIO(data), engine=engine)
    read = []
    for a, b in zip(first, second, strict=True):  # each suspended while the other runs
        assert interpreter_state() == before
        read.append((a.attributes[1].value, b.attributes[1].value))
        assert interpreter_state() == before
    assert [a for a, _ in read] == [b for _, b in read]
    assert [str(a) for a, _ in read] == [f"{i + 1}{'7' * 10_000}" for i in range(5)]
    assert interpreter_state() == before


@pytest.mark.parametrize("gc_enabled", [True, False])
@pytest.mark.parametrize("engine", ["fast", "exact"])
def test_convert_leaves_the_garbage_collector_and_digit_limit_as_they_were(tmp_path, engine, gc_enabled):
    path = tmp_path / "long.json"
    path.write_bytes(long_integer_export(3))
    was = gc.isenabled()
    (gc.enable if gc_enabled else gc.disable)()
    try:
        before = interpreter_state()
        seen = []
        apsis_export.convert(
            path,
            tmp_path / f"out-{engine}",
            format="jsonl",
            engine=engine,
            progress=lambda *_: seen.append(interpreter_state()),
        )
        assert interpreter_state() == before
        assert seen and set(seen) == {before}  # during the run too
    finally:
        (gc.enable if was else gc.disable)()


@contextmanager
def forks_counted():
    """How many times this process forks (os.fork and multiprocessing's fork both run these hooks)."""
    forks = []
    os.register_at_fork(before=lambda: forks.append(os.getpid()))
    # (hooks cannot be unregistered: the list is only looked at inside the block)
    start = len(forks)
    yield lambda: len(forks) - start


def test_jobs_from_a_library_call_do_not_fork_the_caller(tmp_path, monkeypatch):
    monkeypatch.setattr(_units, "UNIT_BYTES", 2000)
    monkeypatch.setattr(_parallel, "INLINE_UNITS", 1)
    assert _parallel.start_method in ("forkserver", "spawn")
    source = SAMPLE_DATA / "small.json.gz"
    apsis_export.convert(source, tmp_path / "one", jobs=1, format="csv")
    with forks_counted() as forks:
        apsis_export.convert(source, tmp_path / "two", jobs=2, format="csv")
        assert forks() == 0
    assert files(tmp_path / "two") == files(tmp_path / "one")
    monkeypatch.setattr(_parallel, "start_method", "fork")  # as the command line does: the counter counts
    with forks_counted() as forks:
        apsis_export.convert(source, tmp_path / "three", jobs=2, format="csv")
        assert forks() >= 2
    assert files(tmp_path / "three") == files(tmp_path / "one")


def test_the_command_tunes_its_own_process_only(tmp_path):
    """``apsis-export`` (cli.run) switches the collector off and forks its workers; the
    library's ``main`` group, as a host program would call it, changes neither."""
    probe = (
        "import gc, sys; from apsis_export import cli, _parallel; sys.argv = ['apsis-export', '--version'];\n"
        "try: cli.{}()\nexcept SystemExit: pass\nprint(gc.isenabled(), _parallel.start_method)"
    )
    results = [
        subprocess.run(
            [sys.executable, "-c", probe.format(entry)], capture_output=True, text=True, check=True
        ).stdout.split("\n")[-2]
        for entry in ("main", "run")
    ]
    assert results[0].split()[0] == "True" and results[0].split()[1] in ("forkserver", "spawn")
    assert results[1] == "False fork"


def test_a_script_without_the_main_guard_gets_a_clear_error_not_a_hang(tmp_path):
    """Workers from a fork server import the calling script again; one that calls convert(jobs=...)
    at its top level cannot start them (multiprocessing refuses): the pool breaks, and the
    error says why, instead of workers being started again and again."""
    script = tmp_path / "unguarded.py"
    script.write_text(
        "import sys\nimport apsis_export\nfrom apsis_export import _parallel\n_parallel.INLINE_UNITS = 0\n"
        "apsis_export.convert(sys.argv[1], sys.argv[2], jobs=2, format='csv')\n"
    )
    done = subprocess.run(
        [sys.executable, str(script), str(SAMPLE_DATA / "small.json.gz"), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0
    assert "needs 'if __name__ == \"__main__\":'" in done.stderr.splitlines()[-1]
