"""The exact engine: ijson's event stream, walked in constant memory.

The top of the document is walked event by event; each profile's value is
built from events (never more than one profile in memory) and mapped to records
by ``_shape``. Numbers stay exact: integers as ``int``, others as
:class:`~decimal.Decimal` with the digits as written. An integer of more than 4300
digits (or the interpreter's lower int digit limit, ``sys.get_int_max_str_digits()``)
comes as a Decimal of its digits (exponent 0, written back as the same digits): Python
turns such text into ``int`` in quadratic time and refuses it past the limit, msgspec
(the fast engine) refuses it too. :class:`_LongNumbers` marks such integers ``e0`` on
their way to ijson, which then makes the Decimal itself, in linear time; the
interpreter's limit is never changed.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from decimal import InvalidOperation
from typing import Any

import ijson
import numpy as np

from .._errors import InputError
from .._records import Profile
from .._shape import AUTO, BARE, WRAPPED, WRAPPER_KEYS, document_extra, is_bare_profile, profile_records
from .._source import Source

#: Values nested deeper than this are refused with a clear error (the JSON
#: writers cannot write them back, and nothing in a real export is that deep).
MAX_DEPTH = 200
#: The error for a value nested beyond MAX_DEPTH (levels below the value's own).
DEPTH_ERROR = f"a value is nested deeper than {MAX_DEPTH} levels"

_BUF_SIZE = 64 * 1024
_warned_backend = False


class SlowBackendWarning(UserWarning):
    """ijson is running without its C backend (yajl2_c), several times slower."""


def _warn_if_slow_backend() -> None:
    global _warned_backend
    if ijson.backend != "yajl2_c" and not _warned_backend:
        _warned_backend = True
        warnings.warn(
            f"ijson is using its slow {ijson.backend!r} backend; reinstall ijson from a wheel "
            "that has yajl2_c for several times the speed",
            SlowBackendWarning,
            stacklevel=3,
        )


def _describe(event: str) -> str:
    return {"start_map": "object", "start_array": "array", "map_key": "key"}.get(event, event)


class ExactEngine:
    """Reference engine on ijson (yajl2_c); slower than a fast engine, never wrong."""

    name = "exact"

    def profiles(self, source: Source, *, layout: str = AUTO) -> Iterator[Profile]:
        _warn_if_slow_backend()
        return walk_document(source, layout)


def walk_document(source: Source, layout: str, *, auto_detected: bool = False) -> Iterator[Profile]:
    """Walk a whole document from ``source``; errors carry offset and profile key.

    ``auto_detected`` says the layout (bare) was detected rather than given: a
    later top-level ``profiles`` key is then ambiguous. The fast engine uses this
    to hand the rest of a document over in the state it reached.
    """
    walk = _Walk(source, layout)
    walk._auto_detected = auto_detected
    try:
        yield from walk.document()
    except InputError as exc:
        if exc.offset is None:
            exc.offset = source.json_offset
        if exc.profile_key is None:
            exc.profile_key = walk.profile_key
        raise
    except ijson.JSONError as exc:
        raise _parser_error(exc, source, walk.profile_key) from None
    except UnicodeDecodeError as exc:  # e.g. a key holding an unpaired surrogate escape
        raise InputError(
            f"invalid text in a string: {exc.reason}", offset=source.json_offset, profile_key=walk.profile_key
        ) from None
    except InvalidOperation:  # an exponent beyond what a Decimal can hold
        raise InputError(
            "a number's exponent is out of range", offset=source.json_offset, profile_key=walk.profile_key
        ) from None
    except RecursionError:  # defensive: the builder is iterative
        raise InputError(
            "JSON nested too deeply", offset=source.json_offset, profile_key=walk.profile_key
        ) from None


def _parser_error(exc: Exception, source: Source, profile_key: str | None) -> InputError:
    """An InputError from yajl's message, at the exact byte where yajl stopped when it can be told."""
    text = exc.args[0] if exc.args else str(exc)
    raw = text if isinstance(text, bytes) else str(text).encode("utf-8", "replace")
    lines = raw.split(b"\n")
    first = lines[0].decode("utf-8", "replace").strip() or "parse error"
    if source.json_offset == 0:
        return InputError("input is empty", offset=0)
    if "premature EOF" in first:
        return InputError(
            "invalid JSON: the document ends early (truncated file?)",
            offset=source.json_offset,
            profile_key=profile_key,
        )
    offset = source.json_offset
    if len(lines) > 1:
        start, chunk = source.last_chunk
        within = _locate(lines[1], chunk)
        if within is not None:
            offset = start + within
    return InputError(f"invalid JSON: {first}", offset=offset, profile_key=profile_key)


#: yajl's verbose errors show the text up to _YAJL_SPAN bytes either side of the error, indented
#: so that the error's byte stands in column _YAJL_INDENT + _YAJL_SPAN.
_YAJL_SPAN, _YAJL_INDENT = 30, 10
#: Offsets tried at the most when locating a rendering in a chunk.
_MAX_CANDIDATES = 100


def _context(chunk: bytes, offset: int) -> bytes:
    """yajl's rendering of the text around ``offset`` (the second line of its verbose errors)."""
    start, end = max(offset - _YAJL_SPAN, 0), min(offset + _YAJL_SPAN, len(chunk))
    pad = _YAJL_INDENT + _YAJL_SPAN - offset if offset < _YAJL_SPAN else _YAJL_INDENT
    return b" " * pad + chunk[start:end].replace(b"\n", b" ").replace(b"\r", b" ")


def _locate(context: bytes, chunk: bytes) -> int | None:
    """The one offset in ``chunk`` whose rendering is ``context``; None when not exactly one."""
    flat = chunk.replace(b"\n", b" ").replace(b"\r", b" ")
    # Near either end of the chunk the rendering is cut short; elsewhere, where its text is found.
    candidates = set(range(min(_YAJL_SPAN, len(chunk) + 1))) | set(
        range(max(len(chunk) - _YAJL_SPAN, 0), len(chunk) + 1)
    )
    needle = context[_YAJL_INDENT:]
    at = flat.find(needle)
    while at != -1 and len(candidates) < _MAX_CANDIDATES:
        candidates.add(at + _YAJL_SPAN)
        at = flat.find(needle, at + 1)
    found = [o for o in candidates if o <= len(chunk) and _context(chunk, o) == context]
    return found[0] if len(found) == 1 else None


class _Walk:
    """One pass over one document; keeps the profile key for error messages."""

    def __init__(self, source: Source, layout: str):
        self.events = ijson.basic_parse(
            _LongNumbers(source, long_integer_digits()), use_float=False, buf_size=_BUF_SIZE
        )
        self.layout = layout
        self.profile_key: str | None = None

    def document(self) -> Iterator[Profile]:
        events = self.events
        event, _ = next(events)
        if event != "start_map":
            raise InputError(f"the export must be a JSON object, found {_describe(event)}", offset=0)
        for event, key in events:
            if event == "end_map":
                break
            if self.layout == WRAPPED:
                if key == "profiles":
                    yield from self._profiles_object()
                else:
                    yield document_extra(key, self._value(*next(events)))
                continue
            if self.layout == AUTO and key in WRAPPER_KEYS:
                self.layout = WRAPPED
                yield from (
                    self._profiles_object()
                    if key == "profiles"
                    else [document_extra(key, self._value(*next(events)))]
                )
                continue
            if self.layout == BARE and key == "profiles" and self._auto_detected:
                raise InputError(
                    "ambiguous layout: a top-level 'profiles' key after bare-layout profiles; "
                    "force it with --input-layout wrapped or bare (input_layout=...)"
                )
            self.profile_key = key
            value = self._value(*next(events))
            if self.layout == AUTO:
                # The first top-level key decides: an object of objects is a bare profile,
                # anything else can only be a wrapped document's own metadata.
                self.layout = BARE if is_bare_profile(value) else WRAPPED
                self._auto_detected = True
                if self.layout == WRAPPED:
                    self.profile_key = None
                    yield document_extra(key, value)
                    continue
            yield profile_records(key, value, BARE)
            self.profile_key = None
        for _ in events:  # let the parser reject trailing garbage
            pass

    _auto_detected = False

    def _profiles_object(self) -> Iterator[Profile]:
        events = self.events
        event, _ = next(events)
        if event != "start_map":
            raise InputError(f"'profiles' must be a JSON object, found {_describe(event)}")
        for event, key in events:
            if event == "end_map":
                break
            self.profile_key = key
            yield profile_records(key, self._value(*next(events)), WRAPPED)
        self.profile_key = None

    def _value(self, event: str, value: Any) -> Any:
        """Build the JSON value that starts with ``event`` (iteratively: any depth is safe)."""
        if event == "start_map":
            root: Any = {}
        elif event == "start_array":
            root = []
        else:
            return value
        stack = [root]
        top = root
        key = None
        for event, value in self.events:
            if event == "map_key":
                key = value
                continue
            if event == "end_map" or event == "end_array":
                stack.pop()
                if not stack:
                    return root
                top = stack[-1]
                continue
            if event == "start_map":
                child: Any = {}
            elif event == "start_array":
                child = []
            else:
                child = value
            if type(top) is dict:
                top[key] = child
            else:
                top.append(child)
            if event == "start_map" or event == "start_array":
                stack.append(child)
                top = child
                if len(stack) > MAX_DEPTH:
                    raise InputError(DEPTH_ERROR)
        raise InputError("invalid JSON: the document ends early (truncated file?)")


#: Integers longer than this come as Decimal: msgspec's limit and the interpreter's default one.
MAX_INT_DIGITS = 4300


def long_integer_digits() -> int:
    """Digits an integer may have and still be read as ``int``: :data:`MAX_INT_DIGITS`, or
    the interpreter's int digit limit when a host program set it lower (Python 3.11+)."""
    get = getattr(sys, "get_int_max_str_digits", None)
    limit = get() if get is not None else 0
    return min(limit, MAX_INT_DIGITS) if limit > 0 else MAX_INT_DIGITS


_DIGIT_BYTES = b"0123456789"
#: Digits to b"1", every other byte to b"0": a run of digits is a run of b"1"s.
_DIGIT_MAP = bytes(0x31 if 0x30 <= b <= 0x39 else 0x30 for b in range(256))
_NOT_INTEGER_PART = (b".", b"e", b"E", b"+")  # bytes before the digits of a fraction or exponent
_QUOTE, _BACKSLASH = 0x22, 0x5C


def _string_state(part: bytes, in_string: bool, escaped: bool) -> tuple[bool, bool]:
    """(inside a string, next byte escaped) after ``part``, from the state before it: the
    parity of its quotes that no odd run of backslashes escapes (in numpy: a few passes
    over the bytes, a few more over the backslashes)."""
    if not part:
        return in_string, escaped
    codes = np.frombuffer(part, np.uint8)[1 if escaped else 0 :]  # an escaped first byte: no quote, no run
    quotes = np.count_nonzero(codes == _QUOTE)
    escaped = False
    if b"\\" in part:
        at = np.flatnonzero(codes == _BACKSLASH)
        if at.size:
            breaks = np.flatnonzero(np.diff(at) != 1)
            starts = np.concatenate((at[:1], at[breaks + 1]))
            ends = np.concatenate((at[breaks], at[-1:])) + 1
            after = ends[((ends - starts) & 1).astype(bool)]  # an odd run escapes the byte after it
            if after.size and after[-1] == codes.size:
                escaped, after = True, after[:-1]
            quotes -= np.count_nonzero(codes[after] == _QUOTE)
    return in_string ^ bool(quotes & 1), escaped


class _LongNumbers:
    """The bytes of ``source`` as ijson reads them, with ``e0`` written after every integer
    of more than ``digits`` digits, so that ijson makes it a Decimal (exponent 0: the same
    digits) in linear time instead of an ``int`` (quadratic, and refused past the
    interpreter's digit limit).

    A chunk costs a count of its quotes and backslashes in numpy (whether a run of digits
    is inside a string follows from the parity of the unescaped quotes before it) and a
    look at every ``digits // 2``-th byte: a longer run of digits covers two neighbouring
    ones. Only a chunk that holds such a run is read byte by byte (in C: translate, find);
    the bytes before a run tell an integer part from a fraction or exponent, and a run that
    reaches the end of a chunk is carried into the next. Malformed JSON stays malformed:
    ijson reports it at or before any byte this changes.
    """

    def __init__(self, source: Any, digits: int):
        self._source = source
        self._digits = digits
        self._needle = b"1" * (digits + 1)
        self._stride = max((digits + 1) // 2, 1)
        self._in_string = False  # at the end of the bytes passed on so far
        self._escaped = False  # ... and the next byte escaped (an odd backslash ended a chunk)
        self._run = 0  # digits at the end of the bytes passed on so far
        self._run_integer = False  # ... and they are the integer part of a number
        self._before = b"  "  # the last two bytes passed on

    def read(self, size: int = -1) -> bytes:
        if size == 0:
            return b""
        chunk = self._source.read(size)
        if chunk:
            return self._mark(chunk)
        if self._run_integer and self._run > self._digits:  # the input ends in the number
            self._run = 0
            return b"e0"
        return chunk

    def _integer_part(self, chunk: bytes, start: int) -> bool:
        """Whether digits starting at ``start`` (outside a string) begin a number's integer part."""
        before = chunk[start - 2 : start] if start >= 2 else (self._before + chunk[:start])[-2:]
        last, first = before[1:], before[:1]
        return last not in _NOT_INTEGER_PART and not (last == b"-" and first in (b"e", b"E"))

    def _long_run_in(self, chunk: bytes) -> bool:
        """Whether ``chunk`` may hold a run of more than ``digits`` digits (it then covers two
        neighbouring samples, ``stride`` bytes apart, and the bytes between)."""
        stride = self._stride
        samples = chunk[::stride].translate(_DIGIT_MAP)
        at = samples.find(b"11")
        while at != -1:
            if chunk[at * stride : (at + 1) * stride + 1].isdigit():
                return True
            at = samples.find(b"11", at + 1)
        return False

    def _mark(self, chunk: bytes) -> bytes:
        n = len(chunk)
        cuts = []  # where e0 goes
        pos = 0
        if self._run:  # a run of digits from the last chunk goes on here
            pos = n - len(chunk.lstrip(_DIGIT_BYTES))
            if pos == n:
                self._run += n
                self._before = (self._before + chunk)[-2:]
                return chunk
            if self._run_integer and self._run + pos > self._digits and chunk[pos] not in b".eE":
                cuts.append(pos)
            self._run, self._run_integer = 0, False
        in_string, escaped, done = self._in_string, self._escaped, 0
        if self._long_run_in(chunk):
            digits = chunk.translate(_DIGIT_MAP)
            while True:
                start = digits.find(self._needle, pos)
                if start == -1:
                    break
                in_string, escaped = _string_state(chunk[done:start], in_string, escaped)
                done = start
                integer = not in_string and self._integer_part(chunk, start)
                end = digits.find(b"0", start + len(self._needle))
                if end == -1:  # goes on into the next chunk
                    self._run, self._run_integer = n - start, integer
                    break
                if integer and chunk[end] not in b".eE":
                    cuts.append(end)
                pos = end
        self._in_string, self._escaped = _string_state(chunk[done:] if done else chunk, in_string, escaped)
        if not self._run and 0x30 <= chunk[-1] <= 0x39:  # a shorter run ends the chunk: it may go on
            start = len(chunk.rstrip(_DIGIT_BYTES))
            self._run = n - start
            self._run_integer = not self._in_string and self._integer_part(chunk, start)
        self._before = (self._before + chunk)[-2:]
        if not cuts:
            return chunk
        pieces: list[bytes] = []
        last = 0
        for cut in cuts:
            pieces += (chunk[last:cut], b"e0")
            last = cut
        pieces.append(chunk[last:])
        return b"".join(pieces)
