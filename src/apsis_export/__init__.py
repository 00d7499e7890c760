"""apsis-export: stream APSIS One profile exports into CSV, JSONL and Parquet.

>>> import apsis_export
>>> for record in apsis_export.read("export.json.gz"):
...     print(record)
>>> summary = apsis_export.convert("export.json.gz", "out/", format="parquet")
"""

from ._convert import ConvertSummary, Progress, convert, dedupe_events, read, read_profiles
from ._engines import ENGINE_NAMES
from ._errors import ApsisExportError, InputError, SinkError
from ._generate import GenerateStats, generate
from ._records import Attribute, Event, Extra, Profile, Record
from ._schema import TABLES, Column, Table
from ._source import Source, open_source
from .sinks import FileSink, Sink, get_sink, register_sink, sink_names

__version__ = "0.1.0"

__all__ = [
    "ApsisExportError",
    "Attribute",
    "Column",
    "ConvertSummary",
    "ENGINE_NAMES",
    "Event",
    "Extra",
    "FileSink",
    "GenerateStats",
    "InputError",
    "Profile",
    "Progress",
    "Record",
    "Sink",
    "SinkError",
    "Source",
    "TABLES",
    "Table",
    "convert",
    "dedupe_events",
    "generate",
    "get_sink",
    "open_source",
    "read",
    "read_profiles",
    "register_sink",
    "sink_names",
]
