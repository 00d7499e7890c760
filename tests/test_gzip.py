"""The one gzip-member walker (``_gzip``): the converter's input and the download check
accept and refuse the same streams, whatever the chunks the bytes arrive in."""

from __future__ import annotations

import gzip
import io

import pytest

from apsis_export import InputError
from apsis_export._gzip import GzipMembers
from apsis_export._source import open_source
from apsis_export.fetch._body import _GzipCheck

DATA = b'{"profiles": {"p": {"sections": {}}}}' * 50
WHOLE = gzip.compress(DATA)
TWO = gzip.compress(DATA[:700]) + gzip.compress(DATA[700:])

STREAMS = {
    "one member": (WHOLE, True),
    "two members": (TWO, True),
    "padding after": (WHOLE + b"\0" * 100, True),
    "padding between": (gzip.compress(DATA[:10]) + b"\0\0\0" + gzip.compress(DATA[10:]), True),
    "cut in a member": (WHOLE[:-20], False),
    "cut in the trailer": (WHOLE[:-3], False),
    "cut in the second member": (TWO[:-30], False),
    "bad checksum": (WHOLE[:-8] + bytes([WHOLE[-8] ^ 0xFF]) + WHOLE[-7:], False),
    "garbage after": (WHOLE + b"garbage", False),
    "garbage after padding": (WHOLE + b"\0\0x", False),
}


def converter_reads(stream: bytes) -> bool:
    """True if the converter's input inflates the whole stream to DATA-like bytes without error."""
    with open_source(io.BytesIO(stream)) as source:
        try:
            while source.read(1000):
                pass
        except InputError:
            return False
    return True


def check_passes(stream: bytes, chunk: int) -> bool:
    check = _GzipCheck()
    for at in range(0, len(stream), chunk):
        check.feed(stream[at : at + chunk])
    return check.complete


@pytest.mark.parametrize("name", STREAMS)
@pytest.mark.parametrize("chunk", [1, 7, 512, 1 << 20])
def test_the_download_check_accepts_what_the_converter_reads(name, chunk):
    stream, good = STREAMS[name]
    assert converter_reads(stream) is good
    assert check_passes(stream, chunk) is good


def test_members_inflate_in_bounded_steps():
    walker = GzipMembers()
    walker.feed(gzip.compress(b"x" * 100_000) + gzip.compress(b"y" * 10))
    pieces = []
    while piece := walker.inflate(4096):
        assert len(piece) <= 4096
        pieces.append(piece)
    assert b"".join(pieces) == b"x" * 100_000 + b"y" * 10
    assert walker.members == 2 and not walker.in_member
