"""A folder of generated exports read through Spark ``local[2]`` beside ``to_arrow`` in one process.

    python benchmarks/spark_folder.py --files 8 --size 25MB     # needs the spark extra and a JRE

Generates the exports once (gzip; ``benchmarks/_folder.py``), then per table and repeat prints the rows and
seconds of ``to_arrow`` over every file in this process and of ``df.count()`` through the
``apsis_export`` data source; fails when a row count differs between the two.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from _folder import add_folder_arguments, generated_folder

import apsis_export


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_folder_arguments(parser, size="25MB", data_dir="/tmp/apsis-bench-folder")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    files = generated_folder(args, gzip=True).files

    os.environ.update(SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable)
    from pyspark.sql import SparkSession

    start = time.perf_counter()
    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    print(f"{args.files} exports of {args.size} JSON; Spark started in {time.perf_counter() - start:.1f} s")
    for n in range(args.repeat):
        for table in ("attributes", "events"):
            start = time.perf_counter()
            rows = sum(b.num_rows for f in files for b in apsis_export.to_arrow(f, table).to_reader())
            one_process = time.perf_counter() - start
            start = time.perf_counter()
            counted = (
                spark.read.format("apsis_export").option("table", table).load([str(f) for f in files]).count()
            )
            in_spark = time.perf_counter() - start
            print(
                f"run {n + 1} {table:10} {rows:>10,} rows   to_arrow {one_process:6.1f} s   "
                f"spark local[2] {in_spark:6.1f} s"
            )
            if counted != rows:
                sys.exit(f"{table}: Spark counted {counted:,} rows, to_arrow gave {rows:,}")
    spark.stop()


if __name__ == "__main__":
    main()
