"""The closed sets of names that options take, one enum each.

A member is its string (``Layout("wide") is Layout.WIDE``, ``Layout.WIDE == "wide"``, and
``str()``/``format()`` give ``"wide"``), so plain strings keep working wherever a mode is asked
for. A name outside the set is an :class:`~apsis_export.OptionsError` (a ``ValueError``) that
lists the set. Sinks are not a closed set (plug-ins register theirs), so formats are strings.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, NoReturn

from ._errors import OptionsError


class Mode(str, Enum):
    """Base of the modes: str() and format() give the value (``enum.StrEnum``, not in 3.10)."""

    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, spec: str) -> str:
        return str.__format__(self, spec)

    @classmethod
    def names(cls) -> str:
        """The set, as error messages and help texts list it: ``"long, wide"``."""
        return ", ".join(cls)

    @classmethod
    def _missing_(cls, value: Any) -> NoReturn:
        """A name outside the set (Enum's hook, called by ``Layout("tall")``)."""
        raise OptionsError(_REFUSED[cls].format(names=cls.names(), value=value))


class Layout(Mode):
    """The output layout: ``long``, an attributes table (one row per attribute); ``wide``, a
    profiles table (one row per profile and section, a typed column per attribute and tag)."""

    LONG = "long"
    WIDE = "wide"


class InputLayout(Mode):
    """The input document's layout: ``wrapped`` ``{"profiles": {KEY: ...}}``, ``bare``
    ``{KEY: ...}``, or ``auto`` (detected from the first key)."""

    AUTO = "auto"
    WRAPPED = "wrapped"
    BARE = "bare"


class EngineName(Mode):
    """The parse engines: ``fast`` (the default) and ``exact`` (the referee); same output."""

    FAST = "fast"
    EXACT = "exact"


class IfExists(Mode):
    """What happens to a file already under a final name: fail before touching anything,
    replace it (and, in a dataset, the other files of the same input), or keep it."""

    ERROR = "error"
    OVERWRITE = "overwrite"
    SKIP = "skip"


class ExportId(Mode):
    """The rules that give each input of many its ``export`` column: the file's name, its name
    without .json/.gz (``stem``), or its folder's name (``parent``: one folder per day)."""

    NAME = "name"
    STEM = "stem"
    PARENT = "parent"


#: What each mode says of a name outside its set (the messages these options have always given).
_REFUSED: dict[type[Mode], str] = {
    Layout: "layout must be one of {names}, not {value!r}",
    InputLayout: "layout must be one of {names}, not {value!r}",
    EngineName: "unknown engine {value!r}; available: {names}",
    IfExists: "if_exists must be one of {names}, not {value!r}",
    ExportId: "export_id must be a function or one of {names}, not {value!r}",
}
