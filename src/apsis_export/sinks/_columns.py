"""Records to columns of values, encoded per column kind: the step all built-in sinks share."""

from __future__ import annotations

from operator import attrgetter
from typing import Any, Callable, Optional, Sequence

from .._records import Record
from .._schema import Table

Encoder = Optional[Callable[[Any], Any]]


def make_columnizer(table: Table, encoders: dict[str, Encoder]) -> Callable[[Sequence[Record]], list[Sequence[Any]]]:
    """A function from a batch of records to one sequence per column, each value
    passed through ``encoders[column.kind]`` (None: values kept as they are)."""
    getter = attrgetter(*table.column_names)
    column_encoders = [encoders[c.kind] for c in table.columns]

    def columns(records: Sequence[Record]) -> list[Sequence[Any]]:
        if not records:
            return [() for _ in column_encoders]
        raw = zip(*map(getter, records))
        return [col if enc is None else list(map(enc, col)) for enc, col in zip(column_encoders, raw)]

    return columns
