"""Fuzz the compiled step (``_native.c``) against the Python code it replaces, under ASan+UBSan.

Run it through ``fuzz/run.sh`` (it builds the sanitized module and loads it in place of the
installed one: ``APSIS_FUZZ_NATIVE``). The first byte of an input picks the target:

* ``Builder.add`` (byte % 3 == 0, below 128): the rest is one profile member (``"key": sections``);
  the other bits pick the layout, ``ambiguous`` and the attribute/event tables. The oracle is
  tests/test_native.py's ``compare``: in both sink modes, what the compiled step accepts must
  be exactly the Python mapping's columns, and it must accept or refuse alike in both.
* ``Builder.add_run`` (byte % 3 == 0, 128 or above): the rest is a buffer of members parsed
  where they lie; each member it takes (split as the numpy scan splits them) must be one
  ``Builder.add`` accepts, with the same columns.
* ``scan`` (byte % 3 == 1): the next two bytes give the carried state and depth limit, the
  two after them two cuts; the compiled scan must give the numpy scan's tokens, deep offsets
  and carried state (tests/test_native.py's ``scan_blocks``).
* ``join_lines`` (byte % 3 == 2): the rest, split at NUL bytes, fills 1-4 text columns (a lone
  ``\\x01`` is a null); the lines must be Arrow's ``binary_join_element_wise`` lines, for a
  slice of the columns too.

A memory error or undefined behaviour aborts with the sanitizer's report; a difference from
the oracle raises. libFuzzer then writes the input to fuzz/artifacts/: keep it as a
regression test.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _load_native() -> None:
    """The sanitized build as ``apsis_export._native`` (before the package imports the installed one)."""
    path = os.environ.get("APSIS_FUZZ_NATIVE")
    if not path:
        sys.exit("APSIS_FUZZ_NATIVE is not set: run fuzz/run.sh")
    spec = importlib.util.spec_from_file_location("apsis_export._native", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["apsis_export._native"] = module
    spec.loader.exec_module(module)


_load_native()
sys.path.insert(0, str(ROOT))

import atheris  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pytest  # noqa: E402
from tests.test_native import compare, scan_blocks  # noqa: E402

from apsis_export import _native  # noqa: E402
from apsis_export._engines import _members  # noqa: E402
from apsis_export._engines._scan import COMMA, PROFILES, TOP, BlockScanner  # noqa: E402
from apsis_export._shape import BARE, WRAPPED  # noqa: E402

assert _native.__file__ == os.environ["APSIS_FUZZ_NATIVE"], "the sanitized build is not the one in use"


def builder_add(flags: int, text: bytes) -> None:
    attributes, events = not flags & 16, not flags & 32
    compare(
        text,
        WRAPPED if flags & 4 else BARE,
        ambiguous=bool(flags & 8),
        attributes=attributes or not events,
        events=events,
    )


def _taken(builder) -> tuple:
    """A Builder's waiting rows as plain bytes, to compare two Builders."""
    attribute_rows, attributes, event_rows, events = builder.take()
    plain = [
        tuple(None if b is None else bytes(memoryview(b)) for b in column)
        for column in (*attributes, *events)
    ]
    return attribute_rows, event_rows, plain


def builder_run(flags: int, data: bytes) -> None:
    """Builder.add_run over the whole input as a buffer: the members it takes (split where the
    numpy scan splits them) must each be accepted by Builder.add, with the same columns."""
    wrapped, ambiguous, json = bool(flags & 4), bool(flags & 8), bool(flags & 16)
    run = _native.Builder(json=json)
    done, _key, after, _limited = run.add_run(
        data,
        0,
        0,
        wrapped=wrapped,
        ambiguous=ambiguous,
        members=1 + (flags >> 5) % 4,
        span=1 << 20 if flags & 64 else 64,
    )
    assert 0 <= after <= len(data) and (done == 0) == (after == 0), data
    split = PROFILES if wrapped else TOP
    scanner = BlockScanner(10**6, depth=split)
    ends = [pos for pos, char, depth in scanner.tokens(data[:after], 0) if char == COMMA and depth == split]
    assert len(ends) == done, data
    one_by_one = _native.Builder(json=json)
    start = 0
    for end in ends:
        assert one_by_one.add(data[start:end], wrapped=wrapped, ambiguous=ambiguous) is not None, data
        start = end + 1
    assert _taken(run) == _taken(one_by_one), data


def scan(data: bytes) -> None:
    if len(data) < 4:
        return
    state, limit, cut1, cut2, body = data[0], data[1], data[2], data[3], data[4:]
    points = sorted({0, len(body), *(c for c in (cut1, cut2) if c < len(body))})
    blocks = [body[a:b] for a, b in itertools.pairwise(points) if b > a]
    carried = (bool(state & 1), (state >> 1) & 3, ((state >> 3) & 7) - 3)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_members, "NEAR_LIMIT", limit % 15 - 2)  # deep offsets at small depths
        assert scan_blocks(blocks, carried, compiled=True) == scan_blocks(blocks, carried, compiled=False), (
            data
        )


def join_lines(data: bytes) -> None:
    if not data:
        return
    width, values = data[0] % 4 + 1, data[1:].split(b"\0")
    rows = len(values) // width
    columns = [[None if v == b"\x01" else v for v in values[i * rows : (i + 1) * rows]] for i in range(width)]
    keys = [b'{"c%d":' % i for i in range(width)]
    for start, end in ((0, rows), (rows // 3, rows - rows // 4)):
        stop = max(start, end)
        texts = [pa.array(column, pa.large_binary()).slice(start, stop - start) for column in columns]
        got = _native.join_lines(keys, b"}\n", [(*t.buffers(), t.offset) for t in texts], stop - start)
        pieces = []
        for key, text in zip(keys, texts, strict=True):
            pieces += [pa.scalar(key, pa.large_binary()), text.fill_null(b"null")]
        joined = pc.binary_join_element_wise(
            *pieces, pa.scalar(b"}\n", pa.large_binary()), pa.scalar(b"", pa.large_binary())
        )
        assert got == b"".join(joined.to_pylist()), data


def test_one_input(data: bytes) -> None:
    if not data:
        return
    target = data[0] % 3
    if target == 0 and data[0] & 128:
        builder_run(data[0], data[1:])
    elif target == 0:
        builder_add(data[0], data[1:])
    elif target == 1:
        scan(data[1:])
    else:
        join_lines(data[1:])


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
