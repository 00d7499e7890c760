"""Operating-system errors while writing: one clean line, exit 1, nothing left behind, the
same in every format. The errors are real: a full filesystem (a 64 KiB tmpfs where this
process may mount one, else files opened on /dev/full), a directory this user may not
write (root drops to nobody in a child process for that), a directory removed mid-run."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

import apsis_export
from apsis_export import SinkError
from apsis_export.cli import main

FORMATS = ["csv", "jsonl", "parquet"]
NOBODY = 65534


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    """A 3 MB export: several batches per table, so the disk fills while writing, not only at close."""
    path = tmp_path_factory.mktemp("input") / "export.json"
    apsis_export.generate(path, size=3_000_000, seed=3)
    return path


def mount_tmpfs(where: Path, *options: str) -> bool:
    """Mount a tmpfs at ``where``; False where this process may not (not root, no CAP_SYS_ADMIN)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", ",".join(["size=64k", *options]), "tmpfs", str(where)],
        capture_output=True,
    )
    return done.returncode == 0


@pytest.fixture
def full_dir(tmp_path):
    """A directory where writing fails with ENOSPC, and how that was arranged."""
    where = tmp_path / "full"
    where.mkdir()
    if mount_tmpfs(where):
        yield where, "tmpfs"
        subprocess.run(
            ["umount", "--lazy", str(where)], check=True
        )  # lazy: a leaked descriptor fails the test, not this
    else:
        yield where, "dev-full"


def leftovers(path: Path) -> list[str]:
    """Files under ``path``, and files under it this process still holds open: a removed
    file whose descriptor stays open keeps its space until the process ends."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the descriptor listdir itself used
            continue
        if target.startswith(f"{path}{os.sep}"):
            held.append(f"open: {target}")
    return sorted(p.name for p in path.rglob("*")) + held if path.exists() else held


def run_cli(*args: str):
    return CliRunner().invoke(main, [*args, "--quiet"], catch_exceptions=False)


def assert_one_line(result, problem: str, out: Path) -> None:
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith(f"apsis-export: error: cannot write {out}{os.sep}")
    assert lines[0].endswith(f": {problem}"), lines[0]


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("fmt", FORMATS)
def test_full_disk(export, full_dir, fmt, jobs):
    out, how = full_dir
    tables = []
    if how == "dev-full":  # the sink's temporary file (FileSink: .NAME.pid.part) leads to /dev/full
        (out / f".events.{fmt}.{os.getpid()}.part").symlink_to("/dev/full")
        tables = ["--tables", "events"]
    result = run_cli("convert", str(export), "--to", fmt, "--out", str(out), "--jobs", str(jobs), *tables)
    assert_one_line(result, os.strerror(28), out)  # ENOSPC
    assert leftovers(out) == []


def as_nobody(call) -> tuple[int, str]:
    """Run ``call()`` (returning exit code and stderr) in a child process as user nobody."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no return from here
        code = 99
        try:
            os.close(read)
            os.setgroups([])
            os.setresgid(NOBODY, NOBODY, NOBODY)
            os.setresuid(NOBODY, NOBODY, NOBODY)
            code, err = call()
            os.write(write, err.encode())
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        err = pipe.read().decode()
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), err


@pytest.mark.parametrize("fmt", FORMATS)
def test_directory_not_writable(export, tmp_path, fmt):
    out = tmp_path / "read-only"
    out.mkdir()
    out.chmod(0o555)
    if os.geteuid() == 0:  # root writes anyway: nobody may not
        for folder in [tmp_path, *tmp_path.parents]:  # nobody passes through (tmp dirs are 0700)
            if folder.stat().st_uid == 0 and folder.stat().st_mode & 0o001 == 0:
                folder.chmod(folder.stat().st_mode | 0o001)
        export_copy = out.parent / "export.json"
        shutil.copyfile(export, export_copy)
        export_copy.chmod(0o644)

        def call():
            result = run_cli("convert", str(export_copy), "--to", fmt, "--out", str(out))
            return result.exit_code, result.stderr

        code, err = as_nobody(call)
    else:
        result = run_cli("convert", str(export), "--to", fmt, "--out", str(out))
        code, err = result.exit_code, result.stderr
    assert code == 1 and len(err.splitlines()) == 1, err
    assert err.startswith(f"apsis-export: error: cannot write {out}{os.sep}")
    assert err.rstrip("\n").endswith(f": {os.strerror(13)}"), err  # EACCES
    assert leftovers(out) == []


class VanishingOutput(io.RawIOBase):
    """An input stream that removes the output directory once the sinks are open and some
    input has been read: the files cannot be renamed into place at the end."""

    def __init__(self, path: Path, out: Path):
        self._file = open(path, "rb")
        self._out = out
        self._reads = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        self._reads += 1
        if self._reads == 3:
            shutil.rmtree(self._out)
        return self._file.readinto(buffer)

    def close(self) -> None:
        self._file.close()
        super().close()


@pytest.mark.parametrize("fmt", FORMATS)
def test_directory_removed_while_writing(export, tmp_path, fmt):
    out = tmp_path / "out"
    source = VanishingOutput(export, out)
    with pytest.raises(SinkError) as info:
        apsis_export.convert(source, out, format=fmt)
    assert source._reads > 3
    message = str(info.value)
    assert message.startswith(f"cannot write {out}{os.sep}") and message.endswith(
        f": {os.strerror(2)}"
    )  # ENOENT
    assert "\n" not in message and not out.exists() and leftovers(out) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_message_is_the_same_in_every_format(export, full_dir, fmt):
    """Arrow words its OSErrors its own way ("Error writing bytes to file. Detail: ..."); the
    sinks give the system's words for the errno, whichever library wrote."""
    out, how = full_dir
    if how == "dev-full":
        (out / f".events.{fmt}.{os.getpid()}.part").symlink_to("/dev/full")
    with pytest.raises(SinkError) as info:
        apsis_export.convert(export, out, format=fmt, tables=["events"])
    assert str(info.value) == f"cannot write {out / ('events.' + fmt)}: {os.strerror(28)}"
    assert leftovers(out) == []
