"""The fast engine's decoding of one member's text (``"key": value``) to a profile's records.

msgspec decodes each member, numbers exact (integers of any size, non-integers as
Decimal of the digits written). A profile in the common shape decodes straight into
typed structs (``_shape.TYPED_PROFILES``, checked by msgspec as it decodes), or with the
compiled step straight to Arrow columns (``_compiled.NativeColumns``); any other, into
plain values. Each then goes through the same ``_shape`` mapping as the exact engine, so
the records are identical by construction. What msgspec refuses (a lone surrogate
escape, invalid UTF-8, invalid JSON) comes back as None: only the exact engine may read it.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from .._records import Profile
from .._shape import (
    TYPED_PROFILES,
    WRAPPED,
    ColumnsInto,
    profile_records,
    typed_profile_columns,
    typed_profile_records,
)

_DECODER = msgspec.json.Decoder(float_hook=Decimal)
_TYPED_DECODERS = {
    layout: msgspec.json.Decoder(dict[str, kind], float_hook=Decimal)  # type: ignore[valid-type]
    for layout, kind in TYPED_PROFILES.items()
}


def decode_member(text) -> tuple[str, Any] | None:
    """The (key, value) of one member's text (``"key": value``); None if msgspec refuses it."""
    try:
        decoded = _DECODER.decode(b"{" + text + b"}")
    except (msgspec.DecodeError, UnicodeDecodeError, InvalidOperation):  # an exponent no Decimal holds
        return None
    return next(iter(decoded.items())) if len(decoded) == 1 else None


def decode_key(text: bytes) -> str | None:
    """The string of a key's JSON text (``"key"``); None if it is not one msgspec reads."""
    try:
        key = _DECODER.decode(text)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    return key if isinstance(key, str) else None


def read_profile(
    text, layout: str, *, ambiguous: bool = False, into: ColumnsInto | None = None
) -> Profile | None:
    """The records of one profile member's text (``"key": value``) in ``layout``; None where only
    the exact engine may read it: msgspec refuses it, or (``ambiguous``) a bare profile keyed
    "profiles". A wrong shape raises InputError, as :func:`profile_records` does.

    The common shape decodes straight into typed structs; the rest as plain values. With
    ``into`` (the columnar path), a typed profile's attributes and events are appended to its
    columns instead, and the profile returned holds its key and section IDs only; with
    ``into.native``, the compiled step appends them as Arrow columns, and a profile it refuses
    comes back as records.
    """
    native = into.native if into is not None else None
    if native is not None:
        found = native.add(text, wrapped=layout == WRAPPED, ambiguous=ambiguous)
        if found is not None:
            return Profile(*found)
        into = None
    try:
        ((key, value),) = _TYPED_DECODERS[layout].decode(b"{" + text + b"}").items()
        typed = True
    except (
        msgspec.DecodeError,
        UnicodeDecodeError,
        ValueError,
        InvalidOperation,
    ):  # ValidationError is a DecodeError
        decoded = decode_member(text)
        if decoded is None:
            return None
        key, value = decoded
        typed = False
    if ambiguous and key == "profiles":
        return None  # the exact engine reports the ambiguity
    if not typed:
        return profile_records(key, value, layout)
    if into is None:
        return typed_profile_records(key, value, layout)
    return Profile(key, typed_profile_columns(key, value, layout, into))
