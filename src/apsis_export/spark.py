"""Read exports into Spark: the ``apsis_export`` PySpark data source (``apsis-export[spark]``).

::

    import apsis_export.spark
    apsis_export.spark.register(spark)          # or automatic: see below
    events = (spark.read.format("apsis_export")
              .option("table", "events")
              .load("s3://bucket/exports/*.json.gz"))

The path (or ``load([...])`` paths) may hold glob patterns (``*``, ``?``, ``[...]``, ``**``);
they are expanded on the driver through pyarrow's filesystems (local, ``s3://``, ``gs://``,
``abfs://``, ``hdfs://``; any other fsspec protocol where fsspec is installed). Each file is
one input partition: an executor parses it with our engine and hands Spark its rows as Arrow
record batches, so a cluster converts many exports at once, each in flat memory. The
DataFrame's columns are those of the table's Parquet file, then ``export``: which export the
row came from, as in ``apsis-export convert INPUT...`` (option ``export_id``: ``name``, the
file's name, by default; ``stem``, without .json/.gz; ``parent``, its folder's name). Files
with the same id share it (nothing is written here that two could overwrite).

Options mirror ``apsis-export convert``: ``table`` (default ``attributes``, or ``profiles``
with the wide layout; ``extras`` too), ``layout`` (``long`` | ``wide``), ``names`` (true:
the name columns, from ``metadata``, a file saved by ``apsis-export metadata --save``, local
or on any of those filesystems), ``dedupe_events``, ``strict_types``, ``input_layout``
(``auto`` | ``wrapped`` | ``bare``), ``engine`` and ``export_id``. The wide layout needs ``names`` with
``metadata`` here: a DataFrame's columns are fixed before the executors read, and finding
them without metadata would mean a first pass over every file on the driver.

Automatic registration: Spark (4.0+) imports every top-level module whose name starts with
``pyspark_`` and registers its ``DefaultSource``; this package ships ``pyspark_apsis_export``,
so ``format("apsis_export")`` works without :func:`register` wherever it is installed.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

import pyarrow as pa

try:
    from pyspark.sql.datasource import DataSource, DataSourceReader, InputPartition
    from pyspark.sql.pandas.types import from_arrow_type, to_arrow_schema
    from pyspark.sql.types import StructField, StructType
except ImportError as exc:
    raise ImportError(
        f"apsis_export.spark needs PySpark 4: pip install 'apsis-export[spark]' ({exc})"
    ) from exc

from ._arrow import BATCH_FORMAT, ArrowStream, arrow_stream
from ._engines import DEFAULT_ENGINE
from ._errors import ApsisExportError, InputError, OptionsError
from ._inputs import display, expand, export_name, opened
from ._many import EXPORT_IDS
from ._metadata import Metadata
from ._modes import ExportId, InputLayout, Layout
from ._pipeline import EXPORT_COLUMN, LAYOUT_TABLES, ConvertOptions, plan_conversion
from .sinks import arrow_batcher
from .sinks._columns import constant_column

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: The name of the data source in ``spark.read.format(...)``.
FORMAT = "apsis_export"

_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no", "")


def register(spark: SparkSession) -> None:
    """Make ``spark.read.format("apsis_export")`` available in this session (where the
    automatic registration has not already: PySpark 4.0 refuses a second one)."""
    from pyspark.errors import AnalysisException

    try:
        spark.dataSource.register(ApsisExportDataSource)
    except AnalysisException as exc:
        condition = exc.getCondition() if hasattr(exc, "getCondition") else exc.getErrorClass()
        if condition != "DATA_SOURCE_ALREADY_EXISTS":
            raise


@dataclass(frozen=True)
class _Settings:
    """The conversion options of one read, checked on the driver and shipped to the executors."""

    table: str
    options: ConvertOptions  # tables: (table,)
    export_id: ExportId = ExportId.NAME

    def export(self, uri: str) -> str:
        """The value of the export column in the rows of the file ``uri``."""
        return EXPORT_IDS[self.export_id](uri)

    def stream(self, source: str | BinaryIO) -> ArrowStream:
        """The table's rows in one export (a path or an open binary file)."""
        return arrow_stream(source, self.table, self.options)

    def arrow_schema(self, source: str) -> pa.Schema:
        """The table's Arrow schema, then the export column (known from the options alone:
        ``source`` is not read)."""
        plan = plan_conversion(source, self.options, format=BATCH_FORMAT)
        schema = arrow_batcher(BATCH_FORMAT, plan.table(self.table))[0]
        return schema.append(pa.field(EXPORT_COLUMN, pa.string()))


class ExportFile(InputPartition):
    """One input partition: one export file, by its URI (or local path), and its export id."""

    def __init__(self, uri: str, export: str):
        super().__init__(uri)
        self.uri = uri
        self.export = export


class ApsisExportDataSource(DataSource):
    """``spark.read.format("apsis_export")``: exports as a DataFrame, one partition per file."""

    @classmethod
    def name(cls) -> str:
        return FORMAT

    def __init__(self, options: MutableMapping[str, str]):
        super().__init__(options)
        self._settings = _settings(options)
        self._files = _input_files(options)

    def schema(self) -> StructType:
        return spark_schema(self._settings.arrow_schema(self._files[0]))

    def reader(self, schema: StructType) -> DataSourceReader:
        return ExportReader(self._settings, self._files, schema)


class ExportReader(DataSourceReader):
    """Plans one partition per file (driver) and reads a file's rows as Arrow batches (executor)."""

    def __init__(self, settings: _Settings, files: list[str], schema: StructType):
        self._settings = settings
        self._files = files
        self._schema = schema

    def partitions(self) -> list[InputPartition]:
        return [ExportFile(uri, self._settings.export(uri)) for uri in self._files]

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        if not isinstance(partition, ExportFile):  # Spark hands back the partitions planned above
            raise TypeError(f"not a partition of this reader: {partition!r}")
        target = _spark_arrow_schema(self._schema)
        where = display(partition.uri)
        try:
            with opened(partition.uri) as source:
                rows = _with_export(self._settings.stream(source).to_reader(), partition.export)
                yield from _cast(rows, target)
        except InputError as exc:
            raise InputError(
                f"{where}: {exc.problem}", offset=exc.offset, profile_key=exc.profile_key
            ) from None
        except (ApsisExportError, OSError) as exc:
            raise type(exc)(f"{where}: {exc}") from None


def spark_schema(schema: pa.Schema) -> StructType:
    """The Spark schema of a table's Arrow schema (every column nullable)."""
    return StructType([StructField(f.name, from_arrow_type(_storage(f.type)), nullable=True) for f in schema])


def _storage(arrow_type: pa.DataType) -> pa.DataType:
    """An extension type's storage (JSON text is text to Spark)."""
    return arrow_type.storage_type if isinstance(arrow_type, pa.ExtensionType) else arrow_type


def _spark_arrow_schema(schema: StructType) -> pa.Schema:
    """The Arrow schema Spark's Python worker expects batches of this schema in: timestamps
    in microseconds, UTC (PySpark 4.0 gives that by default, later ones take a time zone)."""
    if "timezone" in inspect.signature(to_arrow_schema).parameters:
        return to_arrow_schema(schema, timezone="UTC")
    return to_arrow_schema(schema)


def _with_export(reader: pa.RecordBatchReader, export: str) -> Iterator[pa.RecordBatch]:
    """Each batch with the export column after the table's."""
    schema = reader.schema.append(pa.field(EXPORT_COLUMN, pa.string()))
    for batch in reader:
        yield pa.RecordBatch.from_arrays(
            [*batch.columns, constant_column(export, batch.num_rows)], schema=schema
        )


def _cast(reader: Iterable[pa.RecordBatch], target: pa.Schema) -> Iterator[pa.RecordBatch]:
    """Each batch with ``target``'s column types (e.g. timestamp[ms] -> [us]): same values."""
    for batch in reader:
        if batch.schema.equals(target):
            yield batch
        else:
            yield pa.RecordBatch.from_arrays(
                [column.cast(field.type) for column, field in zip(batch.columns, target, strict=True)],
                schema=target,
            )


# -- options ---------------------------------------------------------------------------------------


def _settings(options: Mapping[str, str]) -> _Settings:
    get = {k.lower(): v for k, v in options.items()}.get
    try:
        layout = Layout(get("layout", Layout.LONG))
    except OptionsError as exc:
        raise OptionsError(f"option {exc}") from None
    names_wanted = _flag(get, "names")
    metadata = get("metadata")
    if metadata and not names_wanted:
        raise OptionsError("option metadata goes with option names=true")
    if names_wanted and not metadata:
        raise OptionsError(
            "option names=true needs option metadata (a file saved by 'apsis-export metadata --save')"
        )
    names = _load_metadata(metadata) if metadata else None
    try:
        export_id = ExportId(get("export_id", ExportId.NAME))
    except OptionsError:
        raise OptionsError(
            f"option export_id must be one of {ExportId.names()}, not {get('export_id')!r}"
        ) from None
    table = get("table") or LAYOUT_TABLES[layout][0]
    converted = ConvertOptions(
        tables=(table,),
        layout=layout,
        names=names,
        dedupe=_flag(get, "dedupe_events"),
        strict_types=_flag(get, "strict_types"),
        input_layout=get("input_layout", InputLayout.AUTO),
        engine=get("engine", DEFAULT_ENGINE),
    )
    if converted.needs_first_pass:
        raise OptionsError(
            f"table {table} needs options names=true and metadata=FILE in Spark: its columns "
            "must be known before the files are read (or read a long-layout table)"
        )
    return _Settings(table, converted, export_id)


def _flag(get: Callable[[str, str], str], name: str) -> bool:
    value = str(get(name, "false")).strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise OptionsError(f"option {name} must be true or false, not {value!r}")


def _load_metadata(uri: str) -> Metadata:
    """Metadata from a local file or a file on any filesystem the inputs may use."""
    with opened(uri) as body:
        if isinstance(body, str):
            return Metadata.load(body)
        with tempfile.TemporaryDirectory() as tmp:  # Metadata.load checks the file it reads
            local = os.path.join(tmp, export_name(uri))
            with open(local, "wb") as copy:
                shutil.copyfileobj(body, copy)
            return Metadata.load(local)


def _input_files(options: Mapping[str, str]) -> list[str]:
    """The files of ``load(path)`` / ``load([paths])``, globs expanded."""
    get = {k.lower(): v for k, v in options.items()}.get
    path, paths = get("path"), get("paths")
    patterns = ([path] if path else []) + (json.loads(paths) if paths else [])
    if not patterns:
        raise OptionsError("no input: spark.read.format('apsis_export').load(PATH_OR_GLOB)")
    return expand(patterns)
