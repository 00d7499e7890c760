"""The exact engine: ijson's event stream, walked in constant memory.

The top of the document is walked event by event; each profile's value is
built from events (never more than one profile in memory) and mapped to records
by ``_shape``. Numbers stay exact: integers of any size as ``int``, others as
:class:`~decimal.Decimal` with the digits as written.
"""

from __future__ import annotations

import sys

import warnings
from contextlib import contextmanager
from typing import Any, Iterator

import ijson

from .._errors import InputError
from .._records import Profile
from .._shape import AUTO, BARE, WRAPPED, WRAPPER_KEYS, document_extra, is_bare_profile, profile_records
from .._source import Source

#: Values nested deeper than this are refused with a clear error (the JSON
#: writers cannot write them back, and nothing in a real export is that deep).
MAX_DEPTH = 200

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


@contextmanager
def unlimited_int_digits() -> Iterator[None]:
    """Integers of any size, as JSON allows them. Python 3.11+ refuses int/str conversions
    beyond 4300 digits (sys.set_int_max_str_digits), and ijson's C backend then fails
    badly (a SystemError, later a crash): the limit is lifted while the exact engine parses
    and while convert() writes, and put back after."""
    get = getattr(sys, "get_int_max_str_digits", None)
    if get is None:  # Python 3.10: no limit
        yield
        return
    previous = get()
    sys.set_int_max_str_digits(0)
    try:
        yield
    finally:
        sys.set_int_max_str_digits(previous)


def walk_document(source: Source, layout: str, *, auto_detected: bool = False) -> Iterator[Profile]:
    """Walk a whole document from ``source``; errors carry offset and profile key.

    ``auto_detected`` says the layout (bare) was detected rather than given: a
    later top-level ``profiles`` key is then ambiguous. The fast engine uses this
    to hand the rest of a document over in the state it reached.
    """
    walk = _Walk(source, layout)
    walk._auto_detected = auto_detected
    try:
        with unlimited_int_digits():
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
        raise InputError(f"invalid text in a string: {exc.reason}", offset=source.json_offset, profile_key=walk.profile_key) from None
    except RecursionError:  # defensive: the builder is iterative
        raise InputError("JSON nested too deeply", offset=source.json_offset, profile_key=walk.profile_key) from None


def _parser_error(exc: Exception, source: Source, profile_key: str | None) -> InputError:
    """An InputError from yajl's message, at the exact byte where yajl stopped when it can be told."""
    text = exc.args[0] if exc.args else str(exc)
    raw = text if isinstance(text, bytes) else str(text).encode("utf-8", "replace")
    lines = raw.split(b"\n")
    first = lines[0].decode("utf-8", "replace").strip() or "parse error"
    if source.json_offset == 0:
        return InputError("input is empty", offset=0)
    if "premature EOF" in first:
        return InputError("invalid JSON: the document ends early (truncated file?)", offset=source.json_offset, profile_key=profile_key)
    offset = source.json_offset
    if len(lines) > 1:
        start, chunk = source.last_chunk
        within = _locate(lines[1], chunk)
        if within is not None:
            offset = start + within
    return InputError(f"invalid JSON: {first}", offset=offset, profile_key=profile_key)


def _context(chunk: bytes, offset: int) -> bytes:
    """yajl's rendering of the text around ``offset`` (the second line of its verbose errors)."""
    start, end = max(offset - 30, 0), min(offset + 30, len(chunk))
    pad = 40 - offset if offset < 30 else 10
    return b" " * pad + chunk[start:end].replace(b"\n", b" ").replace(b"\r", b" ")


def _locate(context: bytes, chunk: bytes) -> int | None:
    """The one offset in ``chunk`` whose rendering is ``context``; None when not exactly one."""
    flat = chunk.replace(b"\n", b" ").replace(b"\r", b" ")
    candidates = set(range(min(30, len(chunk) + 1))) | set(range(max(len(chunk) - 30, 0), len(chunk) + 1))
    needle = context[10:]
    at = flat.find(needle)
    while at != -1 and len(candidates) < 100:
        candidates.add(at + 30)
        at = flat.find(needle, at + 1)
    found = [o for o in candidates if o <= len(chunk) and _context(chunk, o) == context]
    return found[0] if len(found) == 1 else None


class _Walk:
    """One pass over one document; keeps the profile key for error messages."""

    def __init__(self, source: Source, layout: str):
        self.events = ijson.basic_parse(source, use_float=False, buf_size=_BUF_SIZE)
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
                yield from (self._profiles_object() if key == "profiles" else [document_extra(key, self._value(*next(events)))])
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
                    raise InputError(f"a value is nested deeper than {MAX_DEPTH} levels")
        raise InputError("invalid JSON: the document ends early (truncated file?)")
