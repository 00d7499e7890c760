"""Records to columns of values, encoded per column kind: the step all built-in sinks share."""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence, Union

import pyarrow as pa

from .._records import Record
from .._schema import Column, Table

#: Encodes a whole column at once, to values or an Arrow array (None: values kept as they are).
ColumnEncoder = Optional[Callable[[Sequence[Any]], Union[Sequence[Any], pa.Array]]]


def each(encode: Callable[[Any], Any]) -> Callable[[Sequence[Any]], list[Any]]:
    """A column encoder applying ``encode`` to every value."""
    return lambda column: list(map(encode, column))


def _by_attribute(names: Sequence[str]) -> Callable[[Sequence[Record]], list[list[Any]]]:
    """A function from records to the list of each named attribute's values: one list
    comprehension per column, generated (as dataclasses generate ``__init__``) because
    it reads slotted records about twice as fast as attrgetter and zip."""
    if not all(name.isidentifier() for name in names):  # record attributes, never data-made names
        raise ValueError(f"column names of record tables must be identifiers: {list(names)}")
    return eval("lambda records: [" + "".join(f"[r.{name} for r in records], " for name in names) + "]")


def make_columnizer(table: Table, encoders: dict[str, ColumnEncoder]) -> Callable[[Sequence[Record]], list[Sequence[Any]]]:
    """A function from a batch of records to one sequence per column, each column
    passed through ``encoders[column.kind]``."""
    read = (lambda records: zip(*records)) if table.tuple_rows else _by_attribute(table.column_names)
    column_encoders = [encoders[c.kind] for c in table.columns]

    def columns(records: Sequence[Record]) -> list[Sequence[Any]]:
        if not records:
            return [() for _ in column_encoders]
        return [col if enc is None else enc(col) for enc, col in zip(column_encoders, read(records))]

    return columns


#: The Arrow type of a column kind: a type, or a function of the column (decimals need its scale).
ArrowType = Union[pa.DataType, Callable[[Column], pa.DataType]]


def make_batcher(table: Table, types: dict[str, ArrowType], encoders: dict[str, ColumnEncoder]):
    """The Arrow schema of ``table`` (an Arrow type per column kind) and a function
    from a batch of records to a RecordBatch of that schema."""
    fields = []
    for column in table.columns:
        kind_type = types[column.kind]
        fields.append(pa.field(column.name, kind_type if isinstance(kind_type, pa.DataType) else kind_type(column)))
    schema = pa.schema(fields)
    columns = make_columnizer(table, encoders)

    def batch(records: Sequence[Record]) -> pa.RecordBatch:
        arrays = [col if isinstance(col, pa.Array) else pa.array(col, type=field.type)
                  for col, field in zip(columns(records), schema)]
        return pa.RecordBatch.from_arrays(arrays, schema=schema)

    return schema, batch


class ArrowSink:
    """Mixin for a FileSink that writes Arrow record batches: ``arrow_types`` and
    ``encoders`` (per column kind) make the batches, here or in --jobs workers.
    Subclasses open their writer in ``_open`` after calling ``_open_batches()``."""

    arrow_types: dict[str, ArrowType]
    encoders: dict[str, ColumnEncoder]

    @classmethod
    def encoder(cls, table: Table) -> Callable[[Sequence[Record]], pa.RecordBatch]:
        return make_batcher(table, cls.arrow_types, cls.encoders)[1]

    def _open_batches(self) -> pa.Schema:
        schema, self._batch = make_batcher(self.table, self.arrow_types, self.encoders)  # type: ignore[attr-defined]
        return schema

    def write(self, records: Sequence[Record]) -> None:
        if records:
            self.write_encoded(self._batch(records))  # type: ignore[attr-defined]
