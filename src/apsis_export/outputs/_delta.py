"""Delta Lake: one Delta table per output table, written by deltalake (the optional extra
``apsis-export[delta]``).

The run stages each table's batches as Parquet files (a DatasetSink in the output's
staging directory); when the whole export has been read, each table's staged
files are streamed as a RecordBatchReader into ``deltalake.write_deltalake``, one table
after another, each an atomic commit of the Delta log. So a bad input never touches a Delta
table, memory stays flat (no table is held), and no two deltalake writers run at once
(concurrent writers fed from Python deadlocked its runtime on two cores).

Appending is the default (``if_exists`` None or "error" appends: a Delta table exists to be
appended to); "overwrite" replaces the table's rows and schema; "skip" leaves an existing
table alone. A column that a later export brings (wide layout, split events) is merged into
the table's schema, older rows null.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.dataset as ds

from .._errors import OptionsError, SinkError
from .._modes import IfExists
from .._records import Record
from .._schema import Table
from ..sinks import arrow_batcher
from ._dataset import DatasetSink
from ._output import Output

#: Schemes deltalake's own storage takes (credentials from the environment).
DELTA_SCHEMES = ("s3", "s3a", "gs", "gcs", "abfs", "abfss", "az", "azure")


class DeltaSink:
    """One table as a Delta table at ``<out>/<table>`` (see the module doc)."""

    def __init__(self, table: Table, name: str, output: Output):
        try:
            import deltalake
        except ImportError:
            raise OptionsError("--to delta needs deltalake: pip install 'apsis-export[delta]'") from None
        location = output.location
        if not location.is_local and location.display.split("://", 1)[0] not in DELTA_SCHEMES:
            raise OptionsError(
                "Delta tables are written through deltalake's own storage: give a local path or "
                "an s3://, gs:// or abfs:// URI (credentials from the environment)"
            )
        self._uri = f"{location.path}/{name}" if location.is_local else location.show(name)
        self._shown = location.show(name)
        output.outputs[name] = self._uri
        self._schema = arrow_batcher("parquet", table)[0]
        self._output, self._deltalake = output, deltalake
        self._files: list[str] = []
        self._staged = DatasetSink(
            table, output.fs, f"{output.staging}/delta/{name}", "part", done=self._files.extend
        )

    def write(self, records: Sequence[Record]) -> None:
        self._staged.write(records)

    def write_encoded(self, batch: pa.RecordBatch) -> None:
        self._staged.write_encoded(batch)

    def drain(self) -> None:
        self._staged.drain()

    def close(self) -> None:
        self._staged.close()
        self._output.on_commit(self._commit)

    def abort(self) -> None:
        self._staged.abort()

    def _commit(self) -> None:
        """Stream the staged files into the Delta table: one commit of its log."""
        deltalake, if_exists = self._deltalake, self._output.if_exists_asked
        if if_exists is IfExists.SKIP and deltalake.DeltaTable.is_deltatable(self._uri):
            return
        files = ds.dataset(self._files, schema=self._schema, format="parquet", filesystem=self._output.fs)
        overwrite = if_exists is IfExists.OVERWRITE
        try:
            deltalake.write_deltalake(
                self._uri,
                files.scanner().to_reader(),
                mode="overwrite" if overwrite else "append",
                schema_mode="overwrite" if overwrite else "merge",
            )
        except Exception as exc:  # deltalake's errors: schema conflicts, storage
            raise SinkError(f"cannot write the Delta table {self._shown}: {exc}") from exc
