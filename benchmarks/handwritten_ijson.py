"""What a user writes without apsis-export: ijson -> rows -> pyarrow -> Parquet.

A baseline for benchmarks/run.py, kept short and plain on purpose: ijson's
``kvitems`` over the profiles (one profile in memory at a time), Python dicts for
rows, ``pa.Table.from_pylist`` every 100,000 rows, zstd Parquet: the same two
tables and columns as apsis-export's, nothing tuned either way. It does not do
what apsis-export adds: the bare layout, extras, typed checks, error messages,
atomic output. Numbers stay ijson's Decimal (``use_float=True`` fails on the
integers beyond 64 bits that exports hold). Wrapped layout only.

    python benchmarks/handwritten_ijson.py EXPORT.json[.gz] OUT_DIR

Prints the row counts as JSON on stdout at the end.
"""

import gzip
import json
import sys
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import ijson
import pyarrow as pa
import pyarrow.parquet as pq

BATCH = 100_000

ATTRIBUTES = pa.schema(
    [
        ("profile_key", pa.string()),
        ("section_id", pa.string()),
        ("attribute_id", pa.string()),
        ("value", pa.string()),
        ("value_type", pa.string()),
    ]
)
EVENTS = pa.schema(
    [
        ("profile_key", pa.string()),
        ("section_id", pa.string()),
        ("correlation_id", pa.string()),
        ("type_id", pa.string()),
        ("source_event_time", pa.timestamp("ms", tz="UTC")),
        ("created_at", pa.timestamp("ms", tz="UTC")),
        ("data", pa.string()),
    ]
)
TYPES = {
    str: "string",
    bool: "boolean",
    int: "number",
    Decimal: "number",
    type(None): "null",
    dict: "object",
    list: "array",
}


def ms(value):
    return datetime.fromtimestamp(value / 1000, tz=timezone.utc) if value else None


def text(value):
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Decimal):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def main(src, out_dir):
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if open(src, "rb").read(2) == b"\x1f\x8b" else open
    attributes, events = [], []
    counts = {"profiles": 0, "attributes": 0, "events": 0}
    with (
        opener(src, "rb") as f,
        pq.ParquetWriter(out / "attributes.parquet", ATTRIBUTES, compression="zstd") as attr_writer,
        pq.ParquetWriter(out / "events.parquet", EVENTS, compression="zstd") as event_writer,
    ):
        for key, profile in ijson.kvitems(f, "profiles"):
            counts["profiles"] += 1
            for section_id, section in profile.get("sections", {}).items():
                for attribute_id, attribute in section.get("attributes", {}).items():
                    value = attribute.get("value")
                    attributes.append(
                        {
                            "profile_key": key,
                            "section_id": section_id,
                            "attribute_id": attribute_id,
                            "value": text(value),
                            "value_type": TYPES[type(value)],
                        }
                    )
                for event in section.get("events", []):
                    events.append(
                        {
                            "profile_key": key,
                            "section_id": section_id,
                            "correlation_id": event.get("correlationId"),
                            "type_id": str(event["typeId"]),
                            "source_event_time": ms(event.get("sourceEventTime")),
                            "created_at": ms(event.get("createdAt")),
                            "data": text(event.get("data")),
                        }
                    )
            if len(attributes) >= BATCH:
                attr_writer.write_table(pa.Table.from_pylist(attributes, schema=ATTRIBUTES))
                counts["attributes"] += len(attributes)
                attributes = []
            if len(events) >= BATCH:
                event_writer.write_table(pa.Table.from_pylist(events, schema=EVENTS))
                counts["events"] += len(events)
                events = []
        if attributes:
            attr_writer.write_table(pa.Table.from_pylist(attributes, schema=ATTRIBUTES))
            counts["attributes"] += len(attributes)
        if events:
            event_writer.write_table(pa.Table.from_pylist(events, schema=EVENTS))
            counts["events"] += len(events)
    print(json.dumps(counts))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
