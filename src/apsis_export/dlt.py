"""Load exports with dlt (``apsis-export[dlt]``): into DuckDB, BigQuery, Snowflake, Postgres,
files on any bucket... whatever destination dlt has, with its state and merges.

::

    import dlt
    from apsis_export.dlt import apsis_source

    pipeline = dlt.pipeline("apsis", destination="duckdb", dataset_name="apsis")
    pipeline.run(apsis_source("exports/*.json.gz", layout="wide", names=metadata))

:func:`apsis_source` has one resource per table, each yielding the table's Arrow record
batches (those of :func:`apsis_export.to_arrow`, so the columns and types of its Parquet
file) plus an ``export`` column, the name of the export the row came from. ``attributes``,
``events`` and ``extras`` are appended; the wide layout's ``profiles`` table is merged on
(``profile_key``, ``section_id``): a later export's row replaces the earlier one, a new
attribute adds a column (empty in older rows). When one run loads several exports with the
same profile and section, the export whose name sorts last wins (name daily exports so they
sort by date). Each resource remembers in dlt's state the exports it loaded, so a re-run
over the same folder loads only new files. Each table reads each export once (a table per
pass: flat memory; the wide layout without ``names`` adds a pass to find the columns).

:func:`apsis_api` runs our fetch cycle inside the pipeline: request the export (or take a
poll URL), poll, download it (verified, restarted after a cut), then the same resources.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa

try:
    import dlt
    from dlt.extract.resource import DltResource
    from dlt.extract.source import DltSource
except ImportError as exc:
    raise ImportError(f"apsis_export.dlt needs dlt: pip install 'apsis-export[dlt]' ({exc})") from exc

from ._arrow import arrow_stream
from ._convert import request_schema
from ._engines import DEFAULT_ENGINE
from ._errors import OptionsError
from ._inputs import InputLike, display, expand, export_name, identify, input_size, opened
from ._many import export_rule
from ._metadata import Metadata
from ._modes import EngineName, ExportId, InputLayout, Layout
from ._pipeline import EXPORT_COLUMN, ConvertOptions
from ._wide import PROFILES
from .fetch import Client, ExportRequest

#: The wide layout's profiles table is merged on these columns.
PROFILE_KEY = ("profile_key", "section_id")


def apsis_source(
    sources: InputLike | Iterable[InputLike],
    *,
    layout: Layout | str = Layout.LONG,
    names: Metadata | None = None,
    tables: Sequence[str] | None = None,
    dedupe: bool = False,
    strict_types: bool = False,
    input_layout: InputLayout | str = InputLayout.AUTO,
    engine: EngineName | str = DEFAULT_ENGINE,
    export_id: Callable[[str], str] | ExportId | str = export_name,
    name: str = "apsis",
) -> DltSource:
    """A dlt source over export files: paths, URIs and glob patterns (``s3://bucket/*.json.gz``).

    ``layout``, ``names``, ``dedupe``, ``strict_types``, ``input_layout`` and ``engine`` are
    :func:`apsis_export.convert`'s; ``tables`` defaults to the layout's (``extras`` may be
    added). ``export_id`` names an export from its path or URI (default: the file name; or a
    rule's name, as :func:`apsis_export.convert_many` takes them); an export is loaded once per
    name: the same name with a different size is an error, not a silent skip (give
    ``export_id`` when names repeat, e.g. one folder per day).
    The globs are expanded when the pipeline runs, so a scheduled run finds the new files.
    """
    options = ConvertOptions(
        tables=tables,
        layout=layout,
        names=names,
        dedupe=dedupe,
        strict_types=strict_types,
        input_layout=input_layout,
        engine=engine,
    )
    rule = export_rule(export_id)

    def exports() -> Iterator[tuple[str, str, int | None]]:
        for uri, export in identify(expand(sources), rule):
            yield uri, export, input_size(uri)

    return _source(name, exports, options, remember=True)


def apsis_api(
    request: str | ExportRequest | Mapping[str, Any] | bytes,
    *,
    client: Client,
    layout: Layout | str = Layout.LONG,
    names: Metadata | None = None,
    tables: Sequence[str] | None = None,
    dedupe: bool = False,
    strict_types: bool = False,
    engine: EngineName | str = DEFAULT_ENGINE,
    save: str | os.PathLike[str] | None = None,
    name: str = "apsis",
) -> DltSource:
    """A dlt source that fetches one export from the APSIS One API when the pipeline runs.

    ``request`` is an :class:`~apsis_export.ExportRequest` (or a request body) to send, or
    the poll URL of one already requested. The export is downloaded once (as
    :meth:`Client.download` does: verified, restarted from the poll URL after a cut) to
    ``save``, else to a temporary file removed with the source, and each table's resource
    reads it. The wide layout takes its columns from the request's attributes and tags
    (named and typed with ``names``), as :func:`~apsis_export.fetch_and_convert` does.
    The rows' ``export`` is the saved file's name.
    """
    options = ConvertOptions(
        tables=tables, layout=layout, names=names, dedupe=dedupe, strict_types=strict_types, engine=engine
    )
    options = replace(options, schema=request_schema(request, options))
    download = _Download(client, request, save)

    def exports() -> Iterator[tuple[str, str, int | None]]:
        path = download.path()
        yield path, Path(path).name, None

    return _source(name, exports, options, remember=False)


# -- the resources ---------------------------------------------------------------------------------


def _source(
    name: str,
    exports: Callable[[], Iterator[tuple[str, str, int | None]]],
    options: ConvertOptions,
    *,
    remember: bool,
) -> DltSource:
    @dlt.source(name=name, max_table_nesting=0)
    def apsis() -> list[DltResource]:
        return [_resource(table, exports, options, remember=remember) for table in options.wanted]

    return apsis()


def _resource(
    table: str,
    exports: Callable[[], Iterator[tuple[str, str, int | None]]],
    options: ConvertOptions,
    *,
    remember: bool,
) -> DltResource:
    """One table's rows from every export not loaded before, as Arrow batches."""
    keys = PROFILE_KEY if table == PROFILES else ()

    def rows() -> Iterator[pa.RecordBatch]:
        loaded = dlt.current.resource_state(table).setdefault("exports", {}) if remember else {}
        for uri, export, size in exports():
            if export in loaded:
                if loaded[export].get("bytes") != size:
                    raise OptionsError(
                        f"export {export!r} ({display(uri)}, {size:,} bytes) was loaded before "
                        f"with {loaded[export].get('bytes'):,} bytes: give export_id= a rule that "
                        "tells them apart, or drop it from the pipeline's state"
                    )
                continue
            rows = 0
            with opened(uri) as source:
                stream = arrow_stream(source, table, options)
                schema = _loaded_schema(stream.schema, keys)
                for batch in stream.to_reader():
                    rows += batch.num_rows
                    export_column = pa.array([export] * batch.num_rows, pa.string())
                    yield pa.RecordBatch.from_arrays([*batch.columns, export_column], schema=schema)
            if remember:
                loaded[export] = {
                    "bytes": size,
                    "rows": rows,
                    "loaded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                }

    if table == PROFILES:
        return dlt.resource(
            rows,
            name=table,
            write_disposition="merge",
            primary_key=PROFILE_KEY,
            columns={EXPORT_COLUMN: {"dedup_sort": "desc"}},
        )
    return dlt.resource(rows, name=table, write_disposition="append")


def _loaded_schema(schema: pa.Schema, keys: Sequence[str]) -> pa.Schema:
    """A table's schema as loaded: the export column added, the merge keys not null (as dlt
    declares primary keys; they never are)."""
    fields = [field.with_nullable(False) if field.name in keys else field for field in schema]
    return pa.schema([*fields, pa.field(EXPORT_COLUMN, pa.string())])


class _Download:
    """One export fetched once, on first use, whichever table's resource asks first."""

    def __init__(
        self,
        client: Client,
        request: str | ExportRequest | Mapping[str, Any] | bytes,
        save: str | os.PathLike[str] | None,
    ):
        self._client, self._request, self._save = client, request, save
        self._lock = threading.Lock()
        self._path: str | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None

    def path(self) -> str:
        with self._lock:
            if self._path is None:
                target = self._save
                if target is None:
                    self._tmp = tempfile.TemporaryDirectory(
                        prefix="apsis-export-"
                    )  # removed with this object
                    started = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
                    target = os.path.join(self._tmp.name, f"apsis-api-{started}.json")
                poll_url = (
                    self._request
                    if isinstance(self._request, str)
                    else self._client.request_export(self._request)
                )
                self._path = str(self._client.download(poll_url, target))
            return self._path
