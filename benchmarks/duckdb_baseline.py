"""DuckDB baseline: the export file -> attributes and events Parquet with SQL only.

What a DuckDB user writes: ``read_json_objects`` reads the file (one giant JSON
object, so ``maximum_object_size`` must exceed the file: the whole document is
held in memory), ``json_each`` walks profiles -> sections -> attributes/events,
``COPY ... TO`` writes zstd Parquet. Variants tried and dropped while writing this:
``read_json`` with ``MAP`` columns (unnesting the one giant map is quadratic:
77 s for 200 MB), and ``json_each`` joined laterally to the document row (runs out
of memory: the document is copied per profile); the document as a scalar
subquery into ``json_each`` is the form that works.

    python benchmarks/duckdb_baseline.py EXPORT.json[.gz] OUT_DIR [--memory-limit 12GB] [--threads N]

Prints the row counts as JSON on stdout at the end.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import duckdb


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("out")
    ap.add_argument("--memory-limit", default="12GB")
    ap.add_argument("--threads", type=int, default=0, help="0: DuckDB's default (all cores)")
    ap.add_argument("--json-bytes", type=int, default=0, help="uncompressed size, for maximum_object_size")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    size = max(args.json_bytes, os.path.getsize(args.src))
    con = duckdb.connect()
    con.execute(f"SET memory_limit='{args.memory_limit}'")
    con.execute("SET preserve_insertion_order=false")
    if args.threads:
        con.execute(f"SET threads={args.threads}")
    src = args.src.replace("'", "''")
    start = time.perf_counter()

    def stage(name):
        print(f"duckdb: {name} done at {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)

    con.execute(f"""
        CREATE TEMP TABLE profiles AS
        SELECT key AS profile_key, value AS profile
        FROM json_each((SELECT json FROM read_json_objects('{src}', maximum_object_size={size + (1 << 20)})),
                       '$.profiles')""")
    con.execute("""
        CREATE TEMP TABLE sections AS
        SELECT profile_key, s.key AS section_id, s.value AS section
        FROM profiles, json_each(profile, '$.sections') AS s""")
    stage("profiles+sections")
    con.execute("DROP TABLE profiles")
    con.execute(f"""
        COPY (SELECT profile_key, section_id, a.key AS attribute_id,
                     CASE json_type(a.value, '$.value') WHEN 'VARCHAR' THEN a.value->>'$.value'
                          WHEN 'NULL' THEN NULL ELSE json_extract(a.value, '$.value')::VARCHAR END AS value,
                     lower(json_type(a.value, '$.value')) AS value_type
              FROM sections, json_each(section, '$.attributes') AS a)
        TO '{out / "attributes.parquet"}' (FORMAT parquet, COMPRESSION zstd)""")
    stage("attributes")
    con.execute(f"""
        COPY (SELECT profile_key, section_id, e.value->>'$.correlationId' AS correlation_id,
                     e.value->>'$.typeId' AS type_id,
                     make_timestamp(nullif((e.value->>'$.sourceEventTime')::BIGINT, 0) * 1000) AS source_event_time,
                     make_timestamp((e.value->>'$.createdAt')::BIGINT * 1000) AS created_at,
                     json_extract(e.value, '$.data')::VARCHAR AS data
              FROM sections, json_each(section, '$.events') AS e)
        TO '{out / "events.parquet"}' (FORMAT parquet, COMPRESSION zstd)""")
    stage("events")
    counts = {
        t: con.execute(f"SELECT count(*) FROM '{out / (t + '.parquet')}'").fetchone()[0]
        for t in ("attributes", "events")
    }
    counts["profiles"] = con.execute("SELECT count(DISTINCT profile_key) FROM sections").fetchone()[0]
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
