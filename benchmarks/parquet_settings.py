"""The Parquet encode stage alone, setting by setting: CPU seconds per GB of input and bytes out.

Reads the tables of a converted export into memory, cut into batches of the size the
conversion hands its sink (BATCH_ROWS), then writes them again and again with each setting,
row groups as the sink cuts them (ROW_GROUP_ROWS), into a stream that only counts bytes:
what is timed is encoding and compression, not the disk. Settings are interleaved round by
round so a noisy machine hurts them alike; each figure is the median over the rounds of the
process's CPU time (user + system, all threads), divided by the input's size.

    python benchmarks/parquet_settings.py /tmp/out-of-g1 --input-bytes 1000008709 --rounds 5

``--keep DIR`` also writes each setting's files to DIR/<setting>/ (to read them back).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from apsis_export._convert import BATCH_ROWS
from apsis_export.sinks._parquet import ROW_GROUP_ROWS, writer_options

TABLES = ("attributes", "events")
#: Columns of few distinct values per row group, and the times.
LOW = ["profile_key", "section_id", "attribute_id", "value_type", "type_id"]
TIMES = ["source_event_time", "created_at"]


def _dictionary_input(table: pa.Table, columns: list[str]) -> pa.Table:
    """``columns`` as dictionary arrays, one dictionary per batch (unified per write)."""
    for name in columns:
        if name in table.column_names:
            i = table.column_names.index(name)
            chunks = [pc.dictionary_encode(chunk) for chunk in table.column(i).chunks]
            table = table.set_column(i, name, pa.chunked_array(chunks))
    return table.unify_dictionaries()


#: name: (ParquetWriter keyword arguments, or a function of the schema giving them; columns given
#: as dictionary arrays)
SETTINGS: dict[str, tuple[dict | Callable[[pa.Schema], dict], list[str]]] = {
    "today (zstd, dict+stats all)": ({"compression": "zstd"}, []),
    "zstd 3": ({"compression": "zstd", "compression_level": 3}, []),
    "zstd 1 explicit": ({"compression": "zstd", "compression_level": 1}, []),
    "stats low+times": ({"compression": "zstd", "write_statistics": LOW + TIMES}, []),
    "dict low+times": ({"compression": "zstd", "use_dictionary": LOW + TIMES}, []),
    "dict+stats low+times": (
        {"compression": "zstd", "use_dictionary": LOW + TIMES, "write_statistics": LOW + TIMES},
        [],
    ),
    "dict low+times+value, stats low+times": (
        {"compression": "zstd", "use_dictionary": LOW + TIMES + ["value"], "write_statistics": LOW + TIMES},
        [],
    ),
    "dict low+times+value+data, stats low+times": (
        {
            "compression": "zstd",
            "use_dictionary": LOW + TIMES + ["value", "data"],
            "write_statistics": LOW + TIMES,
        },
        [],
    ),
    "dict+stats low+times, dict input": (
        {"compression": "zstd", "use_dictionary": LOW + TIMES, "write_statistics": LOW + TIMES},
        LOW,
    ),
    "no dict, stats low+times": (
        {"compression": "zstd", "use_dictionary": False, "write_statistics": LOW + TIMES},
        [],
    ),
    "package (sinks/_parquet.py)": (writer_options, []),
    "package, zstd 3": (lambda schema: {**writer_options(schema), "compression_level": 3}, []),
    "package, dict input": (writer_options, LOW),
    "package, stats low+times": (
        lambda schema: {**writer_options(schema), "write_statistics": LOW + TIMES},
        [],
    ),
    "package, zstd -1": (lambda schema: {**writer_options(schema), "compression_level": -1}, []),
    "package, 4 MB pages": (lambda schema: {**writer_options(schema), "data_page_size": 4 << 20}, []),
    "package, uncompressed": (
        lambda schema: {**writer_options(schema), "compression": "none", "compression_level": None},
        [],
    ),
}


def _batched(table: pa.Table) -> pa.Table:
    """``table`` in chunks of BATCH_ROWS, as the conversion hands them to its sink."""
    table = table.combine_chunks()
    return pa.Table.from_batches(table.to_batches(max_chunksize=BATCH_ROWS), schema=table.schema)


def encode(table: pa.Table, options, dict_columns: list[str], sink) -> None:
    """Write ``table`` as the sink does: a write per ROW_GROUP_ROWS rows, dictionary input made
    per write (where it would be made on the writer thread)."""
    schema = _dictionary_input(table.slice(0, 0), dict_columns).schema if dict_columns else table.schema
    options = options(schema) if callable(options) else options
    with pq.ParquetWriter(sink, schema, **options) as writer:
        for start in range(0, len(table), ROW_GROUP_ROWS):
            part = table.slice(start, ROW_GROUP_ROWS)
            if dict_columns:
                part = _dictionary_input(part, dict_columns)
            writer.write_table(part, row_group_size=ROW_GROUP_ROWS)


def _cpu(run: Callable[..., None], *args) -> float:
    start = time.process_time()
    run(*args)
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("converted", type=Path, help="a directory with attributes.parquet, events.parquet")
    parser.add_argument("--input-bytes", type=int, required=True, help="size of the JSON it came from")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", help="setting names separated by semicolons (default: all)")
    parser.add_argument("--keep", type=Path, help="also write each setting's files under this directory")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument(
        "--unique-ids",
        action="store_true",
        help="make every event's correlation_id distinct first, as in real exports (generated ones "
        "repeat a pool of section bodies, ids included)",
    )
    args = parser.parse_args()

    names = args.only.split(";") if args.only else list(SETTINGS)
    tables = {t: _batched(pq.read_table(args.converted / f"{t}.parquet")) for t in TABLES}
    if args.unique_ids:
        events = tables["events"]
        ids = pc.binary_join_element_wise(
            events["correlation_id"], pc.cast(pa.array(range(len(events))), pa.string()), "-"
        )
        tables["events"] = _batched(
            events.set_column(events.schema.get_field_index("correlation_id"), "correlation_id", ids)
        )
    cpu: dict[tuple[str, str], list[float]] = {(n, t): [] for n in names for t in TABLES}
    size: dict[tuple[str, str], int] = {}
    for _ in range(args.rounds):
        for name in names:
            options, dict_columns = SETTINGS[name]
            for t, table in tables.items():
                sink = pa.MockOutputStream()
                cpu[name, t].append(_cpu(encode, table, options, dict_columns, sink))
                size[name, t] = sink.size()
    if args.keep:
        for name in names:
            options, dict_columns = SETTINGS[name]
            folder = args.keep / name.replace(" ", "_").replace(",", "").replace("(", "").replace(")", "")
            os.makedirs(folder, exist_ok=True)
            for t, table in tables.items():
                encode(table, options, dict_columns, str(folder / f"{t}.parquet"))

    gb = args.input_bytes / 1e9
    base = names[0]
    rows = []
    print(
        f"{args.converted}: {args.input_bytes / 1e6:.0f} MB of JSON, medians of {args.rounds} rounds"
        + (", correlation_id made distinct" if args.unique_ids else "")
    )
    print(
        f"{'setting':42} {'attr CPU-s/GB':>13} {'events':>8} {'both':>7} {'÷ first':>7} {'MB out':>8} {'÷ first':>7}"
    )
    for name in names:
        per = {t: statistics.median(cpu[name, t]) / gb for t in TABLES}
        both = sum(per.values())
        out = sum(size[name, t] for t in TABLES)
        first = sum(statistics.median(cpu[base, t]) / gb for t in TABLES)
        first_out = sum(size[base, t] for t in TABLES)
        rows.append({"setting": name, "cpu_s_per_gb": per, "bytes": {t: size[name, t] for t in TABLES}})
        print(
            f"{name:42} {per['attributes']:13.2f} {per['events']:8.2f} {both:7.2f} {both / first:7.2f}"
            f" {out / 1e6:8.1f} {out / first_out:7.3f}"
        )
    if args.json:
        args.json.write_text(
            json.dumps({"input": str(args.converted), "rounds": args.rounds, "rows": rows}, indent=1)
        )


if __name__ == "__main__":
    main()
