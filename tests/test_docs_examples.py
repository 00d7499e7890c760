"""Every code example in README.md, CONTRIBUTING.md and docs/*.md runs here, so the docs cannot drift from the code.

A page's examples run in order, in one temporary folder holding the files they name
(:func:`example_files`), and its Python blocks share one namespace:

- a ```python block is executed; a ```pycon block is a doctest (``>>>`` lines, then what they
  print, ``...`` standing for any text), run in the same namespace;
- in a ```sh (or bash, shell) block every command line is an ``apsis-export`` command; in a
  ```console block the lines starting with ``$ `` are. Each runs through the CLI in this
  process (click's CliRunner) and must exit 0, or N when the line ends with ``# exit N``. In a
  ```console block the lines under a command are what it prints: each must appear in its
  output, in that order (a line ``...`` stands for lines left out, ``...`` in a line for any
  text: a time, a path). ``< FILE`` at the end of a command gives it FILE as stdin.
- Other fences (none, text, toml) show output or syntax and are not run.

A block that cannot run here (the APSIS API, a cluster, cloud credentials, a long benchmark)
says so with ``<!-- no-test: why -->`` on the line before its fence. It is counted, and a
shell block holding anything else than ``apsis-export`` commands (another program, a pipe, a
``$VARIABLE``) without that mark fails its page: nothing is skipped silently.
"""

from __future__ import annotations

import doctest
import io
import re
import shlex
import shutil
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

import apsis_export
from apsis_export import sinks
from apsis_export.cli import main

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", REPO / "CONTRIBUTING.md", *sorted((REPO / "docs").glob("*.md"))]
PYTHON = {"python", "py"}
DOCTEST = {"pycon"}
SHELL = {"sh", "bash", "shell"}
CONSOLE = {"console"}
NO_TEST = re.compile(r"<!--\s*no-test:\s*(.*?)\s*-->")
#: A fence opens a line (indented in a list item too); as in CommonMark, a backtick fence's info
#: string holds no backtick, so an inline ```` ```sh ```` span at a line's start is no fence.
FENCE = re.compile(r"^(\s*)(`{3,}(?=[^`]*$)|~{3,})\s*([\w+-]*)")
EXIT = re.compile(r"#\s*exit\s+(\d+)\b")
#: What a shell line may not hold to run here: another command after a pipe or ;, a redirect,
#: a variable or ~ the shell would expand.
SHELL_ONLY = re.compile(r"[|;<>&`]|\$|(^|\s)~")


@dataclass
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    language: str
    text: str
    no_test: str | None  # the reason given, when marked

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"

    @property
    def runnable_kind(self) -> bool:
        return self.language in PYTHON | DOCTEST | SHELL | CONSOLE


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of a page, with the no-test mark just before each (blank lines between allowed)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found, i = [], 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, fence, language = match.groups()
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence[0] * len(fence)):
            j += 1
        body = [
            line[len(indent) :] if line.startswith(indent) else line.lstrip() for line in lines[i + 1 : j]
        ]
        k = i - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        mark = NO_TEST.search(lines[k]) if k >= 0 else None
        found.append(Block(page, i + 1, language.lower(), "\n".join(body) + "\n", mark and mark.group(1)))
        i = j + 1
    return found


@dataclass
class Command:
    args: list[str]
    exit_code: int
    expected: list[str]  # console output lines to find, in order ("..." dropped)
    stdin: str | None = None  # a file, from "< FILE"


def shell_commands(block: Block) -> list[Command] | str:
    """The apsis-export commands of a shell or console block, or why it cannot run here."""
    logical: list[tuple[str, list[str]]] = []
    pending = ""
    console = block.language in CONSOLE
    for raw in block.text.splitlines():
        if pending:
            line, pending = pending + " " + raw.strip(), ""
        elif console and not raw.startswith("$ "):
            if logical and raw.strip() and raw.strip() != "...":
                logical[-1][1].append(raw.rstrip())
            continue
        else:
            line = raw.removeprefix("$ ").strip() if console else raw.strip()
        if line.endswith("\\"):
            pending = line[:-1].rstrip()
            continue
        if line and not line.startswith("#"):
            logical.append((line, []))
    commands = []
    for line, expected in logical:
        code = EXIT.search(line)
        command, _, stdin = line.split(" #", 1)[0].partition(" < ")
        if SHELL_ONLY.search(command) or SHELL_ONLY.search(stdin):
            return f"{line!r} needs a shell"
        args = shlex.split(command)
        if args[0] != "apsis-export":
            return f"{line!r} is not an apsis-export command"
        exit_code = int(code.group(1)) if code else 0
        commands.append(Command(args[1:], exit_code, expected, stdin.strip() or None))
    return commands


ALL_BLOCKS = [block for page in PAGES for block in blocks(page)]


def example_files(folder: Path) -> None:
    """The files the examples name, all small: the bundled samples, ``export.json(.gz)`` (the
    300 KB sample), ``meta.json`` (definitions that name and type the sample's IDs, as
    ``apsis-export metadata --save`` writes them) and ``exports/`` (two daily exports)."""
    samples = REPO / "sample_data"
    shutil.copytree(samples, folder / "sample_data")
    shutil.copy(samples / "small.json.gz", folder / "export.json.gz")
    shutil.copy(samples / "small.json", folder / "export.json")
    apsis_export.generated_metadata().save(folder / "meta.json")
    (folder / "exports").mkdir()
    for day in (1, 2):
        apsis_export.generate(folder / f"exports/2024-05-0{day}.json.gz", size=40_000, seed=day, gzip=True)


@pytest.fixture(scope="module")
def example_folder(tmp_path_factory) -> Path:
    """The example files, made once; each page gets a copy to change."""
    folder = tmp_path_factory.mktemp("example-files")
    example_files(folder)
    return folder


def run_python(block: Block, namespace: dict) -> None:
    code = compile(block.text, block.where, "exec")
    try:
        exec(code, namespace)  # noqa: S102 - running the docs' own examples is the point
    except Exception:
        pytest.fail(f"the example at {block.where} fails:\n{traceback.format_exc(limit=-6)}", pytrace=False)


def run_doctest(block: Block, namespace: dict) -> None:
    test = doctest.DocTestParser().get_doctest(
        block.text, namespace, block.where, str(block.page), block.line
    )
    report = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    result = runner.run(test, out=report.write, clear_globs=False)
    namespace.update(test.globs)  # a DocTest runs in a copy of its globals
    if result.failed:
        pytest.fail(
            f"the example at {block.where} prints something else:\n{report.getvalue()}", pytrace=False
        )


def run_shell(block: Block, commands: list[Command]) -> None:
    runner = CliRunner()
    for command in commands:
        stdin = Path(command.stdin).read_bytes() if command.stdin else None
        result = runner.invoke(main, command.args, input=stdin, prog_name="apsis-export")
        shown = f"apsis-export {shlex.join(command.args)} (at {block.where})"
        if result.exit_code != command.exit_code:
            error = "".join(traceback.format_exception(result.exc_info[1])) if result.exception else ""
            pytest.fail(
                f"{shown} exited {result.exit_code}, not {command.exit_code}:\n{result.output}{error}",
                pytrace=False,
            )
        printed = iter(line.rstrip() for line in result.output.splitlines())
        for want in command.expected:
            pattern = re.compile(".*".join(map(re.escape, want.split("..."))))
            if not any(pattern.fullmatch(line) for line in printed):
                pytest.fail(f"{shown} did not print {want!r} (in order):\n{result.output}", pytrace=False)


#: Pages whose examples start process pools (convert_many): left out of the quick run (-m "not slow").
SLOW_PAGES = {"many-exports.md"}


@pytest.mark.parametrize(
    "page",
    [pytest.param(p, marks=pytest.mark.slow) if p.name in SLOW_PAGES else p for p in PAGES],
    ids=lambda p: str(p.relative_to(REPO)),
)
def test_examples_of_a_page_run(page, example_folder, tmp_path, monkeypatch):
    page_blocks = [b for b in blocks(page) if b.runnable_kind and b.no_test is None]
    unrunnable = {
        b.where: why
        for b in page_blocks
        if b.language in SHELL | CONSOLE and isinstance(why := shell_commands(b), str)
    }
    assert not unrunnable, (
        f"blocks that cannot run here need <!-- no-test: why --> before their fence: {unrunnable}"
    )
    shutil.copytree(example_folder, tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt"))  # dlt's pipeline state, else in ~/.dlt
    # A page may plug in a sink (docs/library.md): the registry is put back afterwards.
    monkeypatch.setattr(sinks, "_registry", dict(sinks._registry))
    namespace: dict = {"__name__": "__main__"}
    for block in page_blocks:
        if block.language in PYTHON:
            run_python(block, namespace)
        elif block.language in DOCTEST:
            run_doctest(block, namespace)
        else:
            run_shell(block, shell_commands(block))


def test_every_no_test_mark_gives_a_reason_and_marks_code():
    """The marks, counted (pytest -rA shows the list): each says why, stands before a block of
    code, and none stands before no fence at all."""
    marked = [b for b in ALL_BLOCKS if b.no_test is not None]
    assert all(b.no_test for b in marked), [b.where for b in marked if not b.no_test]
    assert all(b.runnable_kind for b in marked), [b.where for b in marked if not b.runnable_kind]
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        assert len(NO_TEST.findall(text)) == sum(1 for b in blocks(page) if b.no_test is not None), page
    code = [b for b in ALL_BLOCKS if b.runnable_kind]
    print(f"{len(code) - len(marked)} examples run, {len(marked)} marked no-test:")
    for block in marked:
        print(f"  {block.where}: {block.no_test}")


def test_cli_reference_names_every_option_and_no_other():
    """docs/cli.md is the reference: every option of every command is in it, and every
    ``--option`` it names is one of them."""
    reference = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    options = {"--help"}
    for name, command in main.commands.items():
        assert f"apsis-export {name}" in reference, name
        for param in command.params:
            options.update(o for o in (*param.opts, *param.secondary_opts) if o.startswith("--"))
    options.update(o for p in main.params for o in p.opts if o.startswith("--"))
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*[a-z]", reference))
    assert options - named == set(), "options docs/cli.md does not describe"
    assert named - options == set(), "options docs/cli.md names that no command has"


LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """GitHub's ids of a page's headings: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#+\s+(.*?)\s*$", page.read_text(encoding="utf-8"), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def test_links_point_to_files_and_headings_that_exist():
    broken = []
    for page in PAGES:
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):
                continue  # https:, mailto:
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            if not file.exists():
                broken.append(f"{page.relative_to(REPO)}: {target}")
            elif anchor and file.suffix == ".md" and anchor not in anchors(file):
                broken.append(f"{page.relative_to(REPO)}: {target} (no such heading)")
    assert not broken
