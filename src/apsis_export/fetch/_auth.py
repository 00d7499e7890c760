"""Client-credentials tokens: the secret kept out of reprs, the JWT's expiry read unverified."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable

import orjson

from ._errors import AuthError

#: A client secret: the string itself, or a function returning it (called at each token request).
SecretSource = str | Callable[[], str]


class Secret:
    """A string, or a provider of one, that never shows itself in ``repr``, ``str`` or f-strings.

    A provider is called each time the value is needed and its answer is not kept
    (a secret rotated in a vault or a file is picked up at the next token request).
    """

    __slots__ = ("_value",)

    def __init__(self, value: SecretSource):
        if not (isinstance(value, str) or callable(value)):
            raise TypeError("a secret is a string or a function returning one")
        self._value = value

    def reveal(self) -> str:
        """The secret itself: only for the body of the token request or an Authorization header."""
        value = self._value() if callable(self._value) else self._value
        if not isinstance(value, str) or not value:
            raise AuthError("the client secret provider returned no secret (an empty string or not a string)")
        return value

    def mask(self, text: str) -> str:
        """``text`` with this secret replaced by asterisks (a provider's answer is not known here)."""
        return text.replace(self._value, "********") if isinstance(self._value, str) else text

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim (seconds since the epoch) of a JWT, read without checking the signature.

    None when the token is not a JWT or has no numeric ``exp``.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = orjson.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, (int, float)) and not isinstance(exp, bool) else None
