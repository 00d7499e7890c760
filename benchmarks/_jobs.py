"""One measured job, run by benchmarks/run.py in a fresh child process.

    python benchmarks/_jobs.py JOB FILE [OUT_DIR] [--engine E] [--options JSON]

JOB is ``convert:SINK`` (apsis-export's ``convert``), ``read`` (the file's bytes
as stored), ``gunzip`` / ``gunzip-isal`` (decompress only) or ``basic-parse``
(``ijson.basic_parse`` over the JSON, events only). Prints one JSON object on
stdout: what the job counted. Time and peak RSS are measured by the parent.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import json
import resource
import sys

CHUNK = 1 << 20


def _open_json(path):
    with open(path, "rb") as f:
        magic = f.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def read(path, out, args):
    n = 0
    buf = bytearray(CHUNK)
    with open(path, "rb", buffering=0) as f:
        while True:
            k = f.readinto(buf)
            if not k:
                break
            n += k
    return {"bytes": n}


def gunzip(path, out, args, module=gzip):
    n = 0
    buf = bytearray(CHUNK)
    with module.open(path, "rb") as f:
        while True:
            k = f.readinto(buf)
            if not k:
                break
            n += k
    return {"bytes_json": n, "module": module.__name__}


def gunzip_isal(path, out, args):
    from isal import igzip

    return gunzip(path, out, args, igzip)


def basic_parse(path, out, args):
    import ijson

    n = 0
    with _open_json(path) as f:
        for _ in ijson.basic_parse(f, buf_size=64 * 1024):
            n += 1
    return {"parse_events": n, "backend": ijson.backend}


def convert(path, out, args, sink):
    import apsis_export

    options = json.loads(args.options) if args.options else {}
    summary = apsis_export.convert(path, out, format=sink, engine=args.engine, **options)
    return {
        "profiles": summary.profiles,
        "rows": summary.rows,
        "extras": summary.extras,
        "bytes_json": summary.bytes_json,
        "seconds_inside": summary.seconds,
    }


JOBS = {"read": read, "gunzip": gunzip, "gunzip-isal": gunzip_isal, "basic-parse": basic_parse}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("job")
    ap.add_argument("file")
    ap.add_argument("out", nargs="?")
    ap.add_argument("--engine", default="exact")
    ap.add_argument("--options", default="", help="extra keyword arguments of apsis_export.convert, as JSON")
    args = ap.parse_args()
    if args.job.startswith("convert:"):
        gc.disable()  # as the apsis-export command does in its own process (cli.run): its figures
        result = convert(args.file, args.out, args, args.job.split(":", 1)[1])
    else:
        result = JOBS[args.job](args.file, args.out, args)
    # worker processes a future engine may start: their peak is reported beside ours
    result["children_maxrss_kb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
