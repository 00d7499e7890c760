"""The fast engine's structural scan: the few tokens of a block of JSON bytes that split
members of the top object and of ``profiles``, found without a Python step per byte.

Block by block (numpy over the raw bytes, or the same rules in one C loop, ``scan`` in
``_native.c``):

1. find the quotes not escaped by an odd run of backslashes; their running parity says
   which bytes are inside strings;
2. of the structural bytes ``{ } [ ] ,`` outside strings, a cumulative sum gives the
   nesting depth of each;
3. keep the tokens that open or close at the depths a member splits at (:data:`DOCUMENT`,
   :data:`TOP`) and the commas between the members of the top object and of ``profiles``
   (:data:`TOP`, :data:`PROFILES`).

It knows nothing of keys or values: the member state machine (``_members``) reads the
tokens. A quote is escaped wherever it is (outside a string that is invalid JSON, which
the exact engine then reports), so the scan never has to know whether the JSON is valid.
"""

from __future__ import annotations

import numpy as np

from . import _compiled

#: Nesting depths the scan reports tokens at: outside the top object, inside it (between
#: its members), inside ``profiles`` (between the profiles of the wrapped layout).
DOCUMENT, TOP, PROFILES = 0, 1, 2

QUOTE, BACKSLASH = ord('"'), ord("\\")
LBRACE, RBRACE, LBRACKET, RBRACKET, COMMA = (ord(c) for c in "{}[],")
OPENS = (LBRACE, LBRACKET)


class BlockScanner:
    """The tokens of a document read block by block; carries what a block leaves open
    (in a string, a run of backslashes, the depth) into the next.

    Also notes where nesting passes ``deep_from`` (:attr:`deep`), so that a member nested
    near the exact engine's depth limit is found without walking its bytes again.
    """

    def __init__(self, deep_from: int, depth: int = DOCUMENT):
        self.in_string = False
        self.backslashes = 0  # length of the backslash run ending the previous block
        self.depth = depth
        self.deep_from = deep_from
        #: Offsets where the depth after a structural byte passes ``deep_from``: the first of
        #: each run between two tokens (and before the first), so the list stays short
        #: whatever the nesting. Its reader may drop what it is done with.
        self.deep: list[int] = []

    def restart(self, depth: int) -> None:
        """Scan on from a point outside any string, at ``depth`` (what came before is done with)."""
        self.in_string, self.backslashes, self.depth = False, 0, depth
        self.deep = []

    def tokens(self, block: bytes, base: int) -> list[tuple[int, int, int]]:
        """The member-splitting tokens of one block, which starts at offset ``base``, as
        (offset, byte, depth): an open reports the depth before it, a close the depth after
        it, a comma its own."""
        if _compiled.scan is not None:  # the same rules in one C loop
            tokens, deep, self.in_string, odd, self.depth = _compiled.scan(
                block,
                base,
                in_string=self.in_string,
                odd_backslashes=self.backslashes & 1,
                depth=self.depth,
                deep_from=self.deep_from,
            )
            self.backslashes = int(odd)
            self.deep += deep
            return tokens
        a = np.frombuffer(block, dtype=np.uint8)
        quotes = a == QUOTE
        quotes[self._escaped_quotes(a)] = False
        # A structural byte is outside strings when an even number of real quotes precede it.
        inside = _prefix_parity(quotes)
        structural = (a == LBRACE) | (a == RBRACE) | (a == LBRACKET) | (a == RBRACKET) | (a == COMMA)
        structural &= inside == self.in_string  # the parity before the block flips the meaning
        structural = np.flatnonzero(structural)
        self.in_string = bool(inside[-1]) != self.in_string
        chars = a[structural]
        step = np.zeros(len(structural), dtype=np.int64)
        step[(chars == LBRACE) | (chars == LBRACKET)] = 1
        step[(chars == RBRACE) | (chars == RBRACKET)] = -1
        after = np.cumsum(step) + self.depth
        before_depth = after - step
        opens, closes, commas = step == 1, step == -1, chars == COMMA
        keep = (
            (opens & (before_depth <= TOP))
            | (closes & (after <= TOP))
            | (commas & ((before_depth == TOP) | (before_depth == PROFILES)))
        )
        if len(after):
            self.depth = int(after[-1])
            if int(after.max()) > self.deep_from:  # the first deep byte of each run between tokens
                deeper = structural[after > self.deep_from]
                runs = np.searchsorted(structural[keep], deeper)
                first = np.ones(len(deeper), dtype=bool)
                first[1:] = runs[1:] != runs[:-1]
                self.deep.extend((deeper[first] + base).tolist())
        depth = np.where(closes, after, before_depth)[keep]
        return list(
            zip((structural[keep] + base).tolist(), chars[keep].tolist(), depth.tolist(), strict=True)
        )

    def _escaped_quotes(self, a: np.ndarray) -> np.ndarray:
        """Offsets in ``a`` of the quotes escaped by an odd run of backslashes (a run may begin
        in earlier blocks); remembers the run that ends this block."""
        carry, n = self.backslashes, len(a)
        first = [0] if carry & 1 and a[0] == QUOTE else []  # escaped by the run ending the previous block
        backslashes = np.flatnonzero(a == BACKSLASH)
        if not len(backslashes):
            self.backslashes = 0
            return np.array(first, dtype=np.intp)
        # Each run of consecutive backslashes: its first and last offset, and its length.
        breaks = np.flatnonzero(np.diff(backslashes) != 1)
        firsts = backslashes[np.concatenate(([0], breaks + 1))]
        lasts = backslashes[np.concatenate((breaks, [len(backslashes) - 1]))]
        lengths = lasts - firsts + 1
        if firsts[0] == 0:
            lengths[0] += carry
        self.backslashes = int(lengths[-1]) if lasts[-1] == n - 1 else 0
        after = lasts + 1
        after = after[(after < n) & ((lengths & 1) == 1)]
        return np.concatenate((first, after[a[after] == QUOTE])).astype(np.intp)


def _prefix_parity(flags: np.ndarray) -> np.ndarray:
    """For each position, whether an odd number of ``flags`` (bool) are set up to and including it.

    A prefix XOR on 64-bit words (log-step shifts within each word, then each word's
    carry from the parity of all before it): several times faster than a cumulative sum.
    """
    words = np.packbits(flags, bitorder="little")
    words = np.concatenate((words, np.zeros(-len(words) % 8, np.uint8))).view("<u8")
    for shift in (1, 2, 4, 8, 16, 32):
        words ^= words << np.uint64(shift)
    odd_before = np.bitwise_xor.accumulate(words >> np.uint64(63))  # each word's top bit: its own parity
    words[1:] ^= np.uint64(0) - odd_before[:-1]  # all ones where the words before hold an odd count
    return np.unpackbits(words.view(np.uint8), count=len(flags), bitorder="little").view(bool)
