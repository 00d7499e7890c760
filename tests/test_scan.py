"""The fast engine's vectorised scan must find exactly the tokens a byte-by-byte reading finds.

The reference walks the bytes one at a time (in string or not, backslash escapes,
depth); the scan works on blocks with numpy. They must agree on every token, for
any bytes and any block size (escapes, strings and runs of backslashes that
cross block boundaries).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from apsis_export._engines._members import NEAR_LIMIT
from apsis_export._engines._scan import BlockScanner, _prefix_parity


def reference(data: bytes) -> list[tuple[int, int, int]]:
    """(offset, byte, depth) of each open at depth 0/1, close back to 0/1 and comma at depth 1/2.

    As the scan does, a quote after an odd run of backslashes is escaped wherever it
    is (outside a string that is invalid JSON, which the exact engine then reports).
    """
    out, depth, in_string, backslashes = [], 0, False, 0
    for pos, char in enumerate(data):
        if char == ord('"') and not backslashes & 1:
            in_string = not in_string
        elif in_string:
            pass
        elif char in b"{[":
            if depth <= 1:
                out.append((pos, char, depth))
            depth += 1
        elif char in b"}]":
            depth -= 1
            if depth <= 1:
                out.append((pos, char, depth))
        elif char == ord(",") and depth in (1, 2):
            out.append((pos, char, depth))
        backslashes = backslashes + 1 if char == ord("\\") else 0
    return out


def scanned(data: bytes, block: int) -> list[tuple[int, int, int]]:
    scan = BlockScanner(NEAR_LIMIT)
    out = []
    for start in range(0, len(data), block):
        out += scan.tokens(data[start : start + block], start)
    return out


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.sampled_from([b'"', b"\\", b"{", b"}", b"[", b"]", b",", b"a", b"\\\\", b'\\"']), max_size=80
    ),
    st.integers(1, 70),
)
def test_scan_equals_byte_by_byte_reading(pieces, block):
    data = b"".join(pieces)
    assert scanned(data, block) == reference(data)


@given(st.lists(st.booleans(), max_size=300))
def test_prefix_parity(flags):
    expected = (np.cumsum(np.array(flags, dtype=np.int64)) & 1).astype(bool)
    assert _prefix_parity(np.array(flags, dtype=bool)).tolist() == expected.tolist()
