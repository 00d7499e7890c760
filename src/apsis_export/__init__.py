"""apsis-export: stream APSIS One profile exports into CSV, JSONL and Parquet.

>>> import apsis_export
>>> for record in apsis_export.read("export.json.gz"):
...     print(record)
>>> summary = apsis_export.convert("export.json.gz", "out/", format="parquet")
>>> with apsis_export.Client(client_id="...", client_secret="...") as api:
...     api.fetch_and_convert(apsis_export.ExportRequest(attributes=["10462"]), "out/")
"""

from ._convert import ConvertSummary, Progress, convert, dedupe_events, read, read_profiles
from ._engines import ENGINE_NAMES
from ._errors import ApsisExportError, InputError, SinkError
from ._generate import GenerateStats, generate
from ._inspect import AttributeStats, EventTypeStats, InspectReport, inspect
from ._metadata import Definition, Metadata, MetadataError
from ._records import Attribute, Event, Extra, NamedAttribute, NamedEvent, Profile, Record
from ._schema import TABLES, Column, Table
from ._source import Source, open_source
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
    WaitTimeoutError,
)
from .sinks import FileSink, Sink, get_sink, register_sink, sink_names

__version__ = "0.1.0"

__all__ = [
    "ApiError",
    "ApsisExportError",
    "Attribute",
    "AttributeStats",
    "AuthError",
    "Client",
    "Column",
    "ConvertSummary",
    "Definition",
    "DownloadError",
    "ENGINE_NAMES",
    "Event",
    "EventTypeStats",
    "ExportFailedError",
    "ExportGoneError",
    "ExportRequest",
    "ExportRequestError",
    "Extra",
    "FetchError",
    "FileSink",
    "GenerateStats",
    "HttpSettings",
    "InputError",
    "InspectReport",
    "Metadata",
    "MetadataError",
    "NamedAttribute",
    "NamedEvent",
    "Profile",
    "Progress",
    "Record",
    "Sink",
    "SinkError",
    "Source",
    "TABLES",
    "Table",
    "WaitTimeoutError",
    "convert",
    "dedupe_events",
    "generate",
    "get_sink",
    "inspect",
    "open_source",
    "read",
    "read_profiles",
    "register_sink",
    "sink_names",
]
