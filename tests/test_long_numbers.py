"""Integers longer than Python's int digit limit (4300 digits by default): read in linear time as
a Decimal of their digits (exponent 0) and written back as exactly those digits, in every
format and engine, without touching the interpreter's limit.

The exact engine gets them as Decimals from ijson because ``_LongNumbers`` marks them ``e0``
on their way in; the marking is held here to what ijson reads without it, for documents split
into chunks anywhere (strings full of digits, quotes and backslashes, fractions, exponents).
"""

from __future__ import annotations

import io
import json
import random
import sys
from decimal import Decimal

import ijson
import pyarrow.parquet as pq
import pytest

import apsis_export
from apsis_export._engines import _compiled
from apsis_export._engines._exact import MAX_INT_DIGITS, _LongNumbers, long_integer_digits

DIGITS = "12345678901234567890" * 5000  # 100,000 digits
FORMATS = ["parquet", "csv", "jsonl"]
ENGINES = ["default", "pure", "exact"]  # the compiled step, the fast engine in Python, ijson


def long_numbers_export(surrogate: bool) -> bytes:
    """A profile holding long integers where an export holds numbers: an attribute value (negative),
    event data (inside an object and an array, one of them a fraction), and digits in strings;
    with ``surrogate`` a lone surrogate beside them, which the fast engine leaves to ijson."""
    lone = '"s": {"value": "\\ud800"}, ' if surrogate else ""
    return (
        '{"profiles": {"p": {"sections": {"s": {"attributes": {%s"n": {"value": -%s}, "t": {"value": "%s"}, '
        '"q": {"value": "\\"%s\\\\"}}, "events": [{"typeId": "t", "sourceEventTime": 1, "createdAt": 2, '
        '"data": {"x": %s, "y": [%s.5, 1e%s]}}]}}}}}'
        % (lone, DIGITS, DIGITS, DIGITS, DIGITS, DIGITS, DIGITS[:3])
    ).encode()


def convert(tmp_path, data: bytes, fmt: str, engine: str, monkeypatch) -> dict[str, bytes]:
    path = tmp_path / "in.json"
    path.write_bytes(data)
    out = tmp_path / f"out-{fmt}-{engine}"
    with monkeypatch.context() as patch:
        if engine == "pure":
            patch.setattr(_compiled, "AVAILABLE", False)
            patch.setattr(_compiled, "scan", None)
        apsis_export.convert(path, out, format=fmt, engine="exact" if engine == "exact" else "fast")
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


@pytest.mark.parametrize("surrogate", [False, True])
@pytest.mark.parametrize("fmt", FORMATS)
def test_long_integers_keep_their_digits_in_every_format_and_engine(tmp_path, monkeypatch, fmt, surrogate):
    limit = sys.get_int_max_str_digits() if hasattr(sys, "get_int_max_str_digits") else None
    data = long_numbers_export(surrogate)
    outputs = {engine: convert(tmp_path, data, fmt, engine, monkeypatch) for engine in ENGINES}
    assert outputs["default"] == outputs["pure"] == outputs["exact"]
    files = outputs["exact"]
    if fmt == "parquet":
        values = dict(
            zip(
                *pq.read_table(io.BytesIO(files["attributes.parquet"]), columns=["attribute_id", "value"])
                .to_pydict()
                .values(),
                strict=True,
            )
        )
        assert values["n"] == "-" + DIGITS and values["t"] == DIGITS and values["q"] == f'"{DIGITS}\\'
        (data_text,) = (
            pq.read_table(io.BytesIO(files["events.parquet"]), columns=["data"]).column("data").to_pylist()
        )
    elif fmt == "csv":
        assert f'"n","-{DIGITS}","number"'.encode() in files["attributes.csv"]
        assert f'"t","{DIGITS}","string"'.encode() in files["attributes.csv"]
        data_text = files["events.csv"].decode().split("\n")[1]
    else:
        assert f'"value":-{DIGITS},'.encode() in files["attributes.jsonl"]
        assert f'"value":"{DIGITS}",'.encode() in files["attributes.jsonl"]
        data_text = files["events.jsonl"].decode()
    assert (
        f'{{"x":{DIGITS},"y":[{DIGITS}.5,1E+{DIGITS[:3]}]}}'.replace('"', '""' if fmt == "csv" else '"')
        in data_text
    )
    assert limit is None or sys.get_int_max_str_digits() == limit


@pytest.mark.parametrize("engine", ["fast", "exact"])
def test_an_integer_is_an_int_up_to_the_limit_and_a_decimal_past_it(engine):
    values = [
        int("7" * MAX_INT_DIGITS),
        -int("7" * MAX_INT_DIGITS),
        Decimal("7" * (MAX_INT_DIGITS + 1)),
        Decimal("-" + "7" * (MAX_INT_DIGITS + 1)),
    ]
    attributes = ", ".join(f'"a{i}": {{"value": {v}}}' for i, v in enumerate(values))
    doc = f'{{"profiles": {{"p": {{"sections": {{"s": {{"attributes": {{{attributes}}}}}}}}}}}}}'.encode()
    (profile,) = apsis_export.read_profiles(io.BytesIO(doc), engine=engine)
    read = [a.value for a in profile.attributes]
    assert [type(v) for v in read] == [int, int, Decimal, Decimal]
    assert read == values and [str(v) for v in read] == [str(v) for v in values]
    assert [v.as_tuple().exponent for v in read[2:]] == [0, 0]


@pytest.mark.skipif(not hasattr(sys, "set_int_max_str_digits"), reason="Python 3.10 has no int digit limit")
def test_a_host_program_with_a_lower_digit_limit_reads_longer_integers_as_decimals():
    previous = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(1000)
    try:
        assert long_integer_digits() == 1000
        doc = b'{"profiles": {"p": {"sections": {"s": {"attributes": {"a": {"value": %s}}}}}}}' % (
            b"5" * 2000
        )
        (profile,) = apsis_export.read_profiles(io.BytesIO(doc), engine="exact")
        assert profile.attributes[0].value == Decimal("5" * 2000)
        assert sys.get_int_max_str_digits() == 1000
    finally:
        sys.set_int_max_str_digits(previous)
    assert long_integer_digits() == MAX_INT_DIGITS


@pytest.mark.parametrize("engine", ["exact", "fast"])
@pytest.mark.parametrize("exponent", [b"9" * 40, b"9999999999999999999"])
def test_an_exponent_beyond_decimals_range_is_a_clean_error(engine, exponent):
    """Found by hypothesis in test_native: the fast engine's decoder raised InvalidOperation."""
    doc = b'{"profiles": {"p": {"sections": {"s": {"attributes": {"a": {"value": 1e%s}}}}}}}' % exponent
    with pytest.raises(apsis_export.InputError, match="exponent is out of range") as caught:
        list(apsis_export.read_profiles(io.BytesIO(doc), engine=engine))
    assert caught.value.profile_key == "p"


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_an_exponent_beyond_decimals_range_fails_the_command_in_one_line(tmp_path, fmt):
    from click.testing import CliRunner

    from apsis_export.cli import main

    path = tmp_path / "e.json"
    path.write_bytes(
        b'{"profiles": {"p": {"sections": {"s": {"attributes": {"a": {"value": 1e9999999999999999999}}}}}}}'
    )
    result = CliRunner().invoke(
        main, ["convert", str(path), "--out", str(tmp_path / "out"), "--to", fmt, "-q"]
    )
    assert result.exit_code == 1
    assert "exponent is out of range" in result.output and "this is a bug" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() or not [
        p for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")
    ]


def test_an_integer_that_ends_the_input_is_marked_too():
    assert list(ijson.basic_parse(_LongNumbers(io.BytesIO(b"12345"), 3), use_float=False)) == [
        ("number", Decimal("12345"))
    ]


def _invented(rng: random.Random, depth: int = 0) -> str:
    """JSON text whose numbers and strings are made to trip a byte-level filter: digit runs
    inside strings after escaped quotes and backslashes, fractions, exponents, signs."""
    if depth > 3 or rng.random() < 0.35:
        digits = str(rng.randint(1, 9)) + "".join(
            rng.choice("0123456789") for _ in range(rng.choice([0, 1, 3, 5, 8]))
        )
        return rng.choice(
            [
                digits,
                "-" + digits,
                "0",
                "-0",
                digits + "." + digits,
                digits + rng.choice("eE") + rng.choice(["", "+", "-"]) + digits[:3],
                "-" + digits + ".0" + digits + "e-" + digits[:2],
                json.dumps(digits),
                json.dumps('"' + digits + "\\"),
                json.dumps("\\" + digits + '\\"' + digits),
                '"\\u0022' + digits + '"',
                "true",
                "null",
            ]
        )
    if rng.random() < 0.5:
        return "[" + ", ".join(_invented(rng, depth + 1) for _ in range(rng.randint(0, 4))) + "]"
    keys = ["k", "55555555", "a\\\\", 'q"1234567']
    members = (
        json.dumps(rng.choice(keys) + str(i)) + ": " + _invented(rng, depth + 1)
        for i in range(rng.randint(0, 4))
    )
    return "{" + ",\n ".join(members) + "}"


class _Chunks:
    def __init__(self, data: bytes, size: int):
        self._data, self._size = io.BytesIO(data), size

    def read(self, size: int = -1) -> bytes:
        return self._data.read(self._size)


@pytest.mark.parametrize("seed", range(6))
def test_marking_long_integers_changes_nothing_but_their_type(seed):
    rng = random.Random(seed)
    for _ in range(400):
        text = _invented(rng).encode()
        digits, size = rng.choice([2, 3, 5, 8]), rng.choice([1, 2, 3, 7, 64])
        expected = [
            (event, Decimal(value) if type(value) is int and len(str(abs(value))) > digits else value)
            for event, value in ijson.basic_parse(text, use_float=False)
        ]
        got = list(
            ijson.basic_parse(_LongNumbers(_Chunks(text, size), digits), use_float=False, buf_size=size)
        )
        assert got == expected and [(type(v), str(v)) for _, v in got] == [
            (type(v), str(v)) for _, v in expected
        ], text
