"""The rooms of the package import one way: no import circles, and no forbidden arrows.

Every module under ``src/`` is parsed (never imported): every ``import`` and ``from ... import``,
at the top, inside functions or under ``if TYPE_CHECKING:`` (a reader meets those too), relative
imports resolved. An arrow goes to the module imported (``from . import x`` to the submodule ``x``
when there is one, else to the package) and to the packages Python runs on the way there that the
importer does not sit in already. A circle is reported as the modules around it; a forbidden arrow
as importer -> imported. The checker itself is tested on small packages built in ``tmp_path``,
so a check that could not fail would show.
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Iterable
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"

#: Forbidden arrows: (importer prefix, imported prefix, why). A prefix matches a module and
#: everything under it. The rooms are drawn in docs/architecture.md.
FORBIDDEN = [
    ("apsis_export.sinks", "apsis_export._engines", "sinks write tables, they never parse"),
    ("apsis_export._engines", "apsis_export.sinks", "engines yield profiles, they never write"),
    ("apsis_export._engines", "apsis_export.outputs", "engines yield profiles, they never write"),
    ("apsis_export._engines", "apsis_export.cli", "engines never talk to the command line"),
    ("apsis_export.fetch", "apsis_export._convert", "the client fetches, conversion plans live with convert"),
    (
        "apsis_export.fetch",
        "apsis_export._pipeline",
        "the client fetches, conversion plans live with convert",
    ),
    ("apsis_export.fetch", "apsis_export._parallel", "the client fetches, it never converts"),
    ("apsis_export.fetch", "apsis_export._arrow", "the client fetches, it never converts"),
    ("apsis_export.fetch", "apsis_export._many", "the client fetches, it never converts"),
    ("apsis_export.fetch", "apsis_export._wide", "the client fetches, table schemas live with convert"),
    ("apsis_export.fetch", "apsis_export._engines", "the client hands bytes on, it never parses"),
    ("apsis_export.fetch", "apsis_export.sinks", "the client fetches, it never writes tables"),
    ("apsis_export.fetch", "apsis_export.outputs", "the client fetches, it never writes tables"),
    ("apsis_export.outputs", "apsis_export._engines", "outputs write tables, they never parse"),
    ("apsis_export._pipeline", "apsis_export._convert", "convert drives the pipeline, not the reverse"),
    ("apsis_export._pipeline", "apsis_export._parallel", "--jobs uses the pipeline, not the reverse"),
]
#: Only the command line (and ``python -m apsis_export``) imports the command line.
CLI = "apsis_export.cli"
CLI_ENTRY = "apsis_export.__main__"


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def find_modules(root: Path) -> dict[str, Path]:
    """Every module under ``root`` (a ``src`` directory) by dotted name; a package by its own name.
    A compiled extension (its ``.c`` source, or the built ``.so``/``.pyd``) is a module that
    imports nothing of ours."""
    modules = {}
    for path in sorted(root.rglob("*")):
        if path.suffix not in (".py", ".c", ".so", ".pyd") or not path.is_file():
            continue
        parts = list(path.relative_to(root).parts)
        parts[-1] = parts[-1].split(".")[0]  # _native.cpython-311-x86_64-linux-gnu.so: _native
        if parts[-1] == "__init__":
            parts.pop()
        if parts and all(part.isidentifier() for part in parts):
            modules.setdefault(".".join(parts), path)
    return modules


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _resolve(importer: str, is_package: bool, level: int, module: str | None) -> str:
    """The absolute name of a relative import's base (``from ..x import`` in ``a.b.c``: ``a.x``)."""
    if level == 0:
        return module or ""
    base = importer.split(".")
    if not is_package:
        base.pop()  # a module's level 1 is its package
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, module] if module else base)


def imported_names(importer: str, path: Path, modules: Iterable[str]) -> set[str]:
    """The internal modules ``importer`` (at ``path``) names in any import statement."""
    known = set(modules)
    if path.suffix != ".py":
        return set()
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(importer, _is_package(path), node.level, node.module)
            targets = []
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.append(sub if sub in known else base)  # a submodule, else a name in base
        else:
            continue
        for target in targets:
            # Python runs each package on the way to the target, but those the importer sits in
            # (they are being imported already): the target itself is always an arrow.
            parts = target.split(".")
            for n in range(1, len(parts) + 1):
                name = ".".join(parts[:n])
                if name in known and name != importer and (n == len(parts) or not _under(importer, name)):
                    found.add(name)
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    """module -> the internal modules it imports, for every module under ``root``."""
    modules = find_modules(root)
    return {name: imported_names(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles: for every module on one, a shortest circle through it
    (``[a, b, ..., a]``, starting at its first module by name), each circle once."""
    found = {}
    for start in sorted(graph):
        circle = _shortest_circle(graph, start)
        if circle is not None:
            first = circle.index(min(circle[:-1]))
            turned = [*circle[first:-1], *circle[:first], circle[first]]
            found.setdefault(tuple(turned), turned)
    return sorted(found.values())


def _shortest_circle(graph: dict[str, set[str]], start: str) -> list[str] | None:
    """A shortest path of imports from ``start`` back to it (breadth first), or None."""
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph.get(node, ())):
                if nxt == start:
                    return [*paths[node], start]
                if nxt not in paths and nxt in graph:
                    paths[nxt] = [*paths[node], nxt]
                    following.append(nxt)
        frontier = following
    return None


def forbidden_arrows(graph: dict[str, set[str]]) -> list[str]:
    """Every arrow the rules forbid, as ``importer -> imported (why)``."""
    found = []
    for importer, targets in sorted(graph.items()):
        for target in sorted(targets):
            for source, sink, why in FORBIDDEN:
                if _under(importer, source) and _under(target, sink):
                    found.append(f"{importer} -> {target} ({why})")
            if _under(target, CLI) and not _under(importer, CLI) and importer != CLI_ENTRY:
                found.append(f"{importer} -> {target} (only the command line imports the command line)")
    return found


# -- the package ---------------------------------------------------------------------------------


def test_no_module_under_src_is_part_of_an_import_circle():
    graph = import_graph(SRC)
    assert len(graph) > 40 and "apsis_export._convert" in graph  # the whole package was read
    found = [" -> ".join(circle) for circle in cycles(graph)]
    assert not found, "import circles:\n" + "\n".join(found)


def test_no_room_imports_what_it_must_not():
    found = forbidden_arrows(import_graph(SRC))
    assert not found, "forbidden imports:\n" + "\n".join(found)


def test_the_graph_sees_function_level_and_relative_imports_of_the_package():
    graph = import_graph(SRC)
    assert "apsis_export._engines._exact" in graph["apsis_export._engines"]  # inside get_engine
    assert "apsis_export._records" in graph["apsis_export._engines._fast"]  # from .._records import
    assert "apsis_export.spark" in graph["pyspark_apsis_export"]  # absolute


ARCHITECTURE = SRC.parent / "docs" / "architecture.md"
ROOM = re.compile(r"[\w.]+\.py|\w+/")


def listed_rooms(page: str, package: str = "apsis_export") -> dict[str, tuple[int, int]]:
    """The rooms the page's first listing names, top to bottom: module or package -> (line,
    place on the line). A listing line starts with its rooms (``sinks/``, ``_read.py``),
    separated by single spaces; a line starting with a space continues a description."""
    section = page[page.index("## The rooms, top to bottom") :]
    block = section[section.index("```\n") + 4 :]
    block = block[: block.index("```")]
    rooms = {}
    for line_number, line in enumerate(block.splitlines()):
        if not line or line[0].isspace():
            continue
        for place, token in enumerate(line.split("  ")[0].split(" ")):
            assert ROOM.fullmatch(token), f"not a room: {token!r} in {line!r}"
            name = token.removesuffix("/").removesuffix(".py")
            rooms[package if name == "__init__" else f"{package}.{name}"] = (line_number, place)
    return rooms


def room_of(module: str, rooms: dict[str, tuple[int, int]]) -> str | None:
    """The listed room a module belongs to: itself, or the package it is in."""
    return max((r for r in rooms if _under(module, r) and r != "apsis_export"), key=len, default=None) or (
        module if module in rooms else None
    )


def listing_problems(graph: dict[str, set[str]], rooms: dict[str, tuple[int, int]]) -> list[str]:
    """Rooms listed that are no module, modules the listing leaves out, and arrows that point
    up it (or left on a line)."""
    problems = [f"{room} is listed but is no module" for room in rooms if room not in graph]
    for module in sorted(graph):
        if _under(module, "apsis_export") and room_of(module, rooms) is None:
            problems.append(f"{module} is in no room of the listing")
    for importer, targets in sorted(graph.items()):
        for target in sorted(targets):
            here, there = room_of(importer, rooms), room_of(target, rooms)
            if here is not None and there is not None and here != there and rooms[here] >= rooms[there]:
                problems.append(f"{importer} -> {target}: {there} is listed above (or left of) {here}")
    return problems


def test_the_architecture_page_lists_every_module_and_its_arrows_point_down():
    rooms = listed_rooms(ARCHITECTURE.read_text(encoding="utf-8"))
    assert {"apsis_export", "apsis_export.cli", "apsis_export._pipeline", "apsis_export._version"} <= set(
        rooms
    )
    compiled = {m for m, path in find_modules(SRC).items() if path.suffix != ".py"}  # _native: a leaf
    graph = {m: ts - compiled for m, ts in import_graph(SRC).items() if m not in compiled}
    assert listing_problems(graph, rooms) == []


def test_a_listing_with_an_arrow_pointing_up_or_a_module_left_out_is_refused():
    page = "## The rooms, top to bottom\n\n```\n_a.py _b.py   first\npkg/          second\n```\n"
    rooms = listed_rooms(page)
    assert rooms == {"apsis_export._a": (0, 0), "apsis_export._b": (0, 1), "apsis_export.pkg": (1, 0)}
    graph = {"apsis_export._a": {"apsis_export.pkg._x"}, "apsis_export._b": set(), "apsis_export.pkg": set()}
    assert listing_problems({**graph, "apsis_export.pkg._x": set()}, rooms) == []
    assert listing_problems({**graph, "apsis_export.pkg._x": {"apsis_export._b"}}, rooms) == [
        "apsis_export.pkg._x -> apsis_export._b: apsis_export._b is listed above (or left of) apsis_export.pkg"
    ]
    assert listing_problems(
        {**graph, "apsis_export._b": {"apsis_export._a"}, "apsis_export._c": set()}, rooms
    ) == [
        "apsis_export._c is in no room of the listing",
        "apsis_export._b -> apsis_export._a: apsis_export._a is listed above (or left of) apsis_export._b",
    ]
    assert listing_problems({"apsis_export._a": set(), "apsis_export._b": set()}, rooms) == [
        "apsis_export.pkg is listed but is no module"
    ]


# -- the checker, on packages made to break the rules -------------------------------------------------


def _package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def test_a_circle_through_a_function_level_import_is_found(tmp_path):
    root = _package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from .b import thing\n",
            "pkg/b.py": "def thing():\n    from . import c\n",
            "pkg/c.py": "from pkg.a import x\n",
            "pkg/d.py": "from . import a\n",  # on the way in, not on the circle
        },
    )
    assert cycles(import_graph(root)) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]


def test_a_circle_through_a_package_and_a_type_checking_import_is_found(tmp_path):
    root = _package(
        tmp_path,
        {
            "pkg/__init__.py": "from .sub import API\n",
            "pkg/sub/__init__.py": "from ._impl import API\n",
            "pkg/sub/_impl.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .. import other\n",
            "pkg/other.py": "from .sub._impl import API\n",
        },
    )
    assert cycles(import_graph(root)) == [
        ["pkg.other", "pkg.sub", "pkg.sub._impl", "pkg.other"],
        ["pkg.other", "pkg.sub._impl", "pkg.other"],
    ]


def test_from_the_parent_package_import_a_name_is_an_arrow_to_the_package(tmp_path):
    root = _package(
        tmp_path,
        {
            "pkg/__init__.py": "from .client import Client\n__version__ = '1'\n",
            "pkg/client.py": "class Client:\n    def __init__(self):\n        from . import __version__\n",
        },
    )
    assert import_graph(root) == {"pkg": {"pkg.client"}, "pkg.client": {"pkg"}}
    assert cycles(import_graph(root)) == [["pkg", "pkg.client", "pkg"]]


def test_a_package_of_one_way_arrows_has_no_circle(tmp_path):
    root = _package(
        tmp_path,
        {
            "pkg/__init__.py": "from .front import run\n",
            "pkg/front.py": "from .middle import step\nfrom . import back\n",
            "pkg/middle.py": "from .back import leaf\nimport os\n",
            "pkg/back.py": "leaf = 1\n",
        },
    )
    graph = import_graph(root)
    assert graph["pkg.front"] == {"pkg.middle", "pkg.back"}
    assert cycles(graph) == []


@pytest.mark.parametrize(
    ("importer", "imported", "why"),
    [
        (
            "apsis_export/sinks/_csv.py",
            "from .._engines import _fast",
            "sinks write tables, they never parse",
        ),
        (
            "apsis_export/fetch/_client.py",
            "from .._convert import convert",
            "conversion plans live with convert",
        ),
        (
            "apsis_export/_engines/_fast.py",
            "from ..cli import main",
            "engines never talk to the command line",
        ),
        ("apsis_export/_wide.py", "def f():\n    from .cli import _common", "only the command line imports"),
    ],
)
def test_a_forbidden_arrow_is_named(tmp_path, importer, imported, why):
    root = _package(
        tmp_path,
        {
            "apsis_export/__init__.py": "",
            "apsis_export/_convert.py": "",
            "apsis_export/_wide.py": "",
            "apsis_export/sinks/__init__.py": "",
            "apsis_export/_engines/__init__.py": "",
            "apsis_export/cli/__init__.py": "def main():\n    pass\n",
            "apsis_export/cli/_common.py": "",
            "apsis_export/fetch/__init__.py": "",
            importer: imported + "\n",
        },
    )
    found = forbidden_arrows(import_graph(root))
    assert found and all(f.startswith(importer.removesuffix(".py").replace("/", ".") + " -> ") for f in found)
    assert any(why in f for f in found)
