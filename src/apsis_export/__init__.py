"""apsis-export: stream APSIS One profile exports into CSV, JSONL and Parquet.

>>> import apsis_export
>>> for record in apsis_export.read("export.json.gz"):
...     print(record)
>>> summary = apsis_export.convert("export.json.gz", "out/", format="parquet")
>>> daily = apsis_export.convert_many("exports/*.json.gz", "s3://bucket/tables", if_exists="skip")
>>> attributes = apsis_export.to_arrow("export.json.gz")  # duckdb.sql("select ... from attributes")
>>> with apsis_export.Client(client_id="...", client_secret="...") as api:
...     apsis_export.fetch_and_convert(api, apsis_export.ExportRequest(attributes=["10462"]), "out/")
"""

from ._arrow import ArrowStream, batches, to_arrow
from ._convert import convert, fetch_and_convert
from ._engines import ENGINE_NAMES
from ._errors import ApsisExportError, InputError, OptionsError, SinkError
from ._generate import GenerateStats, generate, generated_metadata
from ._inspect import AttributeStats, EventTypeStats, InspectReport, inspect
from ._many import EXPORT_IDS, InputsFailed, InputSummary, ManySummary, convert_many
from ._metadata import Definition, Metadata, MetadataError
from ._modes import EngineName, ExportId, IfExists, InputLayout, Layout
from ._pipeline import TABLE_NAMES, ConvertSummary
from ._progress import Progress
from ._read import dedupe_events, discover, read, read_profiles
from ._records import Attribute, Event, Extra, NamedAttribute, NamedEvent, Profile, Record
from ._schema import TABLES, Column, Table
from ._source import Source, open_source
from ._version import __version__ as __version__
from ._wide import AttributeColumn, DataField, EventTable, WideSchema
from .fetch import (
    ApiError,
    AuthError,
    Client,
    DownloadError,
    ExportFailedError,
    ExportGoneError,
    ExportRequest,
    ExportRequestError,
    FetchError,
    HttpSettings,
    InsecureUrlError,
    WaitTimeoutError,
)
from .sinks import FileSink, Sink, get_sink, register_sink, sink_names

__all__ = [
    "ENGINE_NAMES",
    "EXPORT_IDS",
    "TABLES",
    "TABLE_NAMES",
    "ApiError",
    "ApsisExportError",
    "ArrowStream",
    "Attribute",
    "AttributeColumn",
    "AttributeStats",
    "AuthError",
    "Client",
    "Column",
    "ConvertSummary",
    "DataField",
    "Definition",
    "DownloadError",
    "EngineName",
    "Event",
    "EventTable",
    "EventTypeStats",
    "ExportFailedError",
    "ExportGoneError",
    "ExportId",
    "ExportRequest",
    "ExportRequestError",
    "Extra",
    "FetchError",
    "FileSink",
    "GenerateStats",
    "HttpSettings",
    "IfExists",
    "InputError",
    "InputLayout",
    "InputSummary",
    "InputsFailed",
    "InsecureUrlError",
    "InspectReport",
    "Layout",
    "ManySummary",
    "Metadata",
    "MetadataError",
    "NamedAttribute",
    "NamedEvent",
    "OptionsError",
    "Profile",
    "Progress",
    "Record",
    "Sink",
    "SinkError",
    "Source",
    "Table",
    "WaitTimeoutError",
    "WideSchema",
    "batches",
    "convert",
    "convert_many",
    "dedupe_events",
    "discover",
    "fetch_and_convert",
    "generate",
    "generated_metadata",
    "get_sink",
    "inspect",
    "open_source",
    "read",
    "read_profiles",
    "register_sink",
    "sink_names",
    "to_arrow",
]
