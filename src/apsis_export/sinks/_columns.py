"""Records to columns of values, encoded per column kind: the step all built-in sinks share.

A batch is records, or (the columnar path) a :class:`Columns` that already holds the values
of each column: the same encoders then apply to its lists.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache
from operator import attrgetter
from typing import Any, ClassVar, TypeAlias

import pyarrow as pa

from .._errors import OptionsError
from .._records import Record
from .._schema import Column, Table

#: Encodes a whole column at once, to values or an Arrow array (None: values kept as they are).
ColumnEncoder: TypeAlias = Callable[[Sequence[Any]], Sequence[Any] | pa.Array] | None
#: Encodes a column of the compiled step's rows, an Arrow array (None: kept as it is).
NativeEncoder: TypeAlias = Callable[[pa.Array], pa.Array] | None


def each(encode: Callable[[Any], Any]) -> Callable[[Sequence[Any]], list[Any]]:
    """A column encoder applying ``encode`` to every value."""
    return lambda column: list(map(encode, column))


@cache
def _by_attribute(names: tuple[str, ...]) -> Callable[[Sequence[Record]], list[list[Any]]]:
    """A function from records to the list of each named attribute's values."""
    getters = [attrgetter(name) for name in names]
    return lambda records: [list(map(get, records)) for get in getters]


class Columns:
    """A batch of a record table's rows column by column: what the columnar path hands
    sinks instead of records. Built-in sinks accept either (their factories say so with
    ``accepts_columns``).

    Rows come in parts, in row order: one list of values per column (``lists``, rows mapped
    in Python), or one Arrow array per column made by the compiled step (see
    ``_engines/_compiled.py``), which sinks encode with their ``native_encoders``.
    """

    __slots__ = ("_part_rows", "_parts", "_read", "lists")

    def __init__(self, table: Table):
        self.lists: list[list[Any]] = [[] for _ in table.columns]
        self._parts: list[list[Any]] = []
        self._part_rows = 0
        self._read = _by_attribute(table.column_names)

    def __len__(self) -> int:
        return self._part_rows + len(self.lists[0])

    def extend(self, records: Sequence[Record]) -> None:
        """Append the rows of ``records`` (of this table's record type)."""
        for values, column in zip(self.lists, self._read(records), strict=True):
            values.extend(column)

    def extend_arrays(self, arrays: list[pa.Array]) -> None:
        """Append rows the compiled step made, one Arrow array per column."""
        if self.lists[0]:
            self._parts.append(self.lists)
            self._part_rows += len(self.lists[0])
            self.lists = [[] for _ in self.lists]
        self._parts.append(arrays)
        self._part_rows += len(arrays[0])

    def parts(self) -> list[list[Any]]:
        """The rows in order: lists of values, or lists of Arrow arrays (a native part)."""
        if self.lists[0] or not self._parts:
            return [*self._parts, self.lists]
        return self._parts


Batch: TypeAlias = Sequence[Record] | Columns


def _is_native(part: list[Any]) -> bool:
    return isinstance(part[0], pa.Array)


def make_columnizer(
    table: Table, encoders: dict[str, ColumnEncoder], native_encoders: dict[str, NativeEncoder] | None = None
) -> Callable[[Batch], list[list[Sequence[Any]]]]:
    """A function from a batch (records or :class:`Columns`) to its parts in row order, each
    one sequence per column: values passed through ``encoders[column.kind]``, or Arrow arrays
    of a native part passed through ``native_encoders[column.kind]`` (absent: kept)."""
    read = (
        (lambda records: zip(*records, strict=True))
        if table.tuple_rows
        else _by_attribute(table.column_names)
    )
    column_encoders = [encoders[c.kind] for c in table.columns]
    native = [(native_encoders or {}).get(c.kind) for c in table.columns]

    def columns(batch: Batch) -> list[list[Sequence[Any]]]:
        if not batch:
            return [[() for _ in column_encoders]]
        if not isinstance(batch, Columns):
            return [
                [
                    col if enc is None else enc(col)
                    for enc, col in zip(column_encoders, read(batch), strict=True)
                ]
            ]
        return [
            [
                col if enc is None else enc(col)
                for enc, col in zip(native if _is_native(part) else column_encoders, part, strict=True)
            ]
            for part in batch.parts()
        ]

    return columns


#: The Arrow type of a column kind: a type, or a function of the column (decimals need its scale).
ArrowType: TypeAlias = pa.DataType | Callable[[Column], pa.DataType]


def make_batcher(
    table: Table,
    types: dict[str, ArrowType],
    encoders: dict[str, ColumnEncoder],
    native_encoders: dict[str, NativeEncoder] | None = None,
) -> tuple[pa.Schema, Callable[[Batch], pa.RecordBatch]]:
    """The Arrow schema of ``table`` (an Arrow type per column kind) and a function
    from a batch of records to a RecordBatch of that schema."""
    fields = []
    for column in table.columns:
        kind_type = types[column.kind]
        fields.append(
            pa.field(column.name, kind_type if isinstance(kind_type, pa.DataType) else kind_type(column))
        )
    schema = pa.schema(fields)
    columns = make_columnizer(table, encoders, native_encoders)

    def batch(records: Batch) -> pa.RecordBatch:
        parts = [
            [
                col if isinstance(col, pa.Array) else pa.array(col, type=field.type)
                for col, field in zip(part, schema, strict=True)
            ]
            for part in columns(records)
        ]
        arrays = (
            parts[0]
            if len(parts) == 1
            else [pa.concat_arrays(list(chunks)) for chunks in zip(*parts, strict=True)]
        )
        return pa.RecordBatch.from_arrays(arrays, schema=schema)

    return schema, batch


def constant_fields(table: Table, constants: Mapping[str, str]) -> list[pa.Field]:
    """The string columns ``constants`` (name: value) add after ``table``'s: the ``export`` of
    a dataset many exports share. A name the table has already is an OptionsError."""
    clash = [name for name in constants if name in table.column_names]
    if clash:
        raise OptionsError(
            f"table {table.name} has a column {clash[0]!r} already: it cannot carry the "
            f"{clash[0]!r} column of a dataset of many exports"
        )
    return [pa.field(name, pa.string()) for name in constants]


def constant_column(value: str, rows: int) -> pa.Array:
    """A string column holding ``value`` in each of ``rows`` rows."""
    return pa.repeat(pa.scalar(value, pa.string()), rows)


class ArrowSink:
    """Mixin for a FileSink that writes Arrow record batches: ``arrow_types`` and
    ``encoders`` (per column kind) make the batches, here or in --jobs workers.
    Subclasses open their writer in ``_open`` after calling ``_open_batches()``."""

    table: Table  # (the FileSink's)
    arrow_types: dict[str, ArrowType]
    encoders: dict[str, ColumnEncoder]
    accepts_columns = True
    #: Encoders of the compiled step's arrays, text columns in text mode (native_json false);
    #: None: this sink takes no such arrays, and profiles are mapped in Python.
    native_encoders: ClassVar[dict[str, NativeEncoder] | None] = None
    native_json = False
    #: The compiled step writes event times as ISO text (else int64 milliseconds).
    native_iso_times = False

    @classmethod
    def encoder(cls, table: Table) -> Callable[[Batch], pa.RecordBatch]:
        return make_batcher(table, cls.arrow_types, cls.encoders, cls.native_encoders)[1]

    def _open_batches(self) -> pa.Schema:
        """The schema of the file: the table's columns, then the sink's constants (see FileSink)."""
        schema, self._batch = make_batcher(
            self.table,
            self.arrow_types,
            self.encoders,
            self.native_encoders,
        )
        constants = self.constants  # type: ignore[attr-defined]
        for field in constant_fields(self.table, constants):
            schema = schema.append(field)
        self._file_schema = schema
        return schema

    def _with_constants(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """A batch of the table's columns (made here or by --jobs workers) with the constants added."""
        constants = self.constants  # type: ignore[attr-defined]
        if not constants:
            return batch
        added = [constant_column(value, batch.num_rows) for value in constants.values()]
        return pa.RecordBatch.from_arrays([*batch.columns, *added], schema=self._file_schema)

    def write(self, records: Batch) -> None:
        if records:
            self.write_encoded(self._batch(records))  # type: ignore[attr-defined]  # the FileSink's, mixed in with this class
