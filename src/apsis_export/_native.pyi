"""Types of the compiled extension (``_native.c``) for type checkers: each function's
argument parsing (``PyArg_ParseTuple``) and return value there, written down."""

from typing_extensions import Buffer

#: A string column of :meth:`Builder.take`: validity bitmap (None: no nulls), int32 offsets, data.
StringColumn = tuple[bytes | None, bytes, Buffer]
#: An int64 column of :meth:`Builder.take`: validity bitmap (None: no nulls), values.
IntColumn = tuple[bytes | None, bytes]

#: The most columns :func:`join_lines` joins (more: the caller joins in Python).
JOIN_MAX_COLUMNS: int

def scan(
    block: Buffer, base: int, /, *, in_string: bool, odd_backslashes: int, depth: int, deep_from: int
) -> tuple[list[tuple[int, int, int]], list[int], bool, bool, int]:
    """(tokens as (offset, byte, depth), deep offsets, in_string, odd_backslashes, depth)."""

def join_lines(
    keys: list[bytes], end: Buffer, columns: list[tuple[Buffer | None, Buffer, Buffer, int]], rows: int, /
) -> bytes:
    """Each row's line, keys[i] before the i-th column's JSON text and ``end`` after the last."""

class Builder:
    """Arrow column buffers of the attributes and events of profiles in the common shape."""

    def __init__(
        self, *, json: bool, attributes: bool = True, events: bool = True, iso_times: bool = False
    ) -> None: ...
    def add(self, text: Buffer, /, *, wrapped: bool, ambiguous: bool) -> tuple[str, list[str]] | None:
        """Append one profile member's columns: (key, section IDs), or None if refused."""

    def add_many(
        self, buffer: Buffer, base: int, spans: list[int], /, *, wrapped: bool, ambiguous: bool
    ) -> tuple[int, str]:
        """add() for the members of ``buffer`` (input from offset ``base``) at the flat (start, end)
        ``spans``, until one is refused: (members added, the last one's key, "" if none)."""

    def add_run(
        self,
        buffer: Buffer,
        base: int,
        start: int,
        /,
        *,
        wrapped: bool,
        ambiguous: bool,
        members: int,
        span: int,
    ) -> tuple[int, str, int, bool]:
        """The members of ``buffer`` from offset ``start``, parsed where they lie while each is
        followed by a comma: (members added, the last one's key, the offset after its comma, limited)."""

    def take(self) -> tuple[int, tuple[StringColumn, ...], int, tuple[StringColumn | IntColumn, ...]]:
        """(attribute rows, attribute columns, event rows, event columns), emptied."""

    @property
    def rows(self) -> tuple[int, int]:
        """(attribute rows, event rows) waiting."""

    @property
    def refusals(self) -> dict[str, int]:
        """{reason: profiles refused for it} since the Builder was made."""
