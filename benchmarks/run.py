"""apsis-export benchmarks: throughput and peak memory against the baselines, side by side.

    python benchmarks/run.py --sizes 100MB,1GB,4GB            # the full run (about an hour here)
    python benchmarks/run.py --sizes 50MB,200MB --sinks parquet --inputs plain --baselines none --check-only  # CI

For each size, a synthetic export is generated (``apsis_export.generate``,
seeded, cached in --data-dir with its exact counts), plain and gzip. Then,
interleaved so that a noisy machine hurts all alike, each job runs in a fresh
child process, whose wall time and peak RSS (``wait4``'s ``ru_maxrss``) are measured:

- ours: ``apsis_export.convert`` to each sink (``--sinks``), engine ``--engine``;
- ceilings: reading the file; gzip decompression (stdlib, and isal when installed);
- floor of any ijson design: ``ijson.basic_parse`` over the JSON, events only;
- what a user writes without us: ``benchmarks/handwritten_ijson.py`` (ijson -> pyarrow);
- DuckDB: ``benchmarks/duckdb_baseline.py`` (SQL only), when duckdb is installed, on
  files up to --duckdb-max (it holds the whole document in memory), capped at --rss-cap
  (the child is killed beyond it and reported as such).

Each size comes in the shapes of --shapes: ``default`` (the generator's defaults) and
``short`` (many short values: 30-40 attributes and 0-5 events per section).

Throughput is MB/s of uncompressed JSON (10^6 bytes) per second of the child's
wall time, start-up included; rows/s counts attributes + events rows. Jobs on
files below --repeat-below run --repeat times and report medians. Checks: our
row counts equal the generator's, and our peak RSS at each size stays within
--rss-margin of the smallest size's. A failed check exits 1 (after writing the
results). Writes results.json, results.md and (with matplotlib) results.png to --out.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SINKS = ("parquet", "csv", "jsonl")
BASELINES = ("read", "gunzip", "gunzip-isal", "basic-parse", "handwritten", "duckdb")
#: Export shapes: name -> extra ``apsis-export generate`` options.
SHAPES = {
    "default": [],
    "short": ["--attributes", "30-40", "--events", "0-5"],  # many short values: more rows per byte
}
UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}


def parse_size(text: str) -> int:
    t = text.strip().upper()
    digits = t.rstrip("KMGIB")
    return int(float(digits) * UNITS[t[len(digits) :]])


def key(entry: dict) -> tuple[int, bool, str]:
    """(size, gzip, shape) of a generated file or a result (runs before shapes: ``default``)."""
    return entry["size"], entry["gzip"], entry.get("shape", "default")


def where(entry: dict) -> str:
    """``1 GB plain``, ``1 GB gzip short``: a file or result for messages and tables."""
    shape = entry.get("shape", "default")
    return f"{human(entry['size'])} {'gzip' if entry['gzip'] else 'plain'}" + (
        "" if shape == "default" else f" {shape}"
    )


def human(n: float) -> str:
    for unit, div in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= div:
            return f"{n / div:.3g} {unit}"
    return f"{n:.0f} B"


# ---------------------------------------------------------------- measuring one child


class Measured(dict):
    """One run of one job: seconds, peak RSS (MB), exit status, the job's JSON output."""


def measure(cmd: list[str], *, timeout: float, rss_cap: int, log: Path) -> Measured:
    """Run ``cmd``; wall time, peak RSS from wait4; kill it beyond ``timeout`` s or ``rss_cap`` bytes RSS."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as err, open(log.with_suffix(".out"), "wb+") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)
        killed: list[str] = []
        done = threading.Event()

        def watchdog():
            status = Path(f"/proc/{proc.pid}/status")
            while not done.wait(0.25):
                try:
                    rss = next(
                        int(line.split()[1]) * 1024
                        for line in status.read_text().splitlines()
                        if line.startswith("VmRSS:")
                    )
                except (OSError, StopIteration, ValueError):
                    continue
                why = None
                if rss > rss_cap:
                    why = f"killed: RSS {rss / 1e9:.1f} GB beyond the cap of {rss_cap / 1e9:.0f} GB"
                elif time.perf_counter() - start > timeout:
                    why = f"killed: still running after the {timeout:.0f} s timeout"
                if why:
                    killed.append(why)
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    return

        thread = threading.Thread(target=watchdog, daemon=True)
        thread.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        done.set()
        thread.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace").strip()
    result = Measured(
        seconds=seconds,
        peak_rss_mb=usage.ru_maxrss / 1024,
        cpu_s=usage.ru_utime + usage.ru_stime,
        returncode=proc.returncode,
        ok=proc.returncode == 0 and not killed,
    )
    if killed:
        result["error"] = killed[0]
    elif proc.returncode != 0:
        result["error"] = error_line(log) or f"exit {proc.returncode}"
    if text:
        try:
            result["output"] = json.loads(text.splitlines()[-1])
        except ValueError:
            result["output"] = text[-300:]
    return result


def error_line(log: Path) -> str | None:
    """The line of a child's stderr naming its error: the last exception line, else the last line."""
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    named = [
        line for line in lines if "Error" in line.split(":", 1)[0] or "Exception" in line.split(":", 1)[0]
    ]
    return ((named or lines or [""])[-1])[:300] or None


# ---------------------------------------------------------------- data


# The harness itself never imports apsis_export, pyarrow or matplotlib: a child's
# ru_maxrss starts from its parent's memory (Linux carries the forked image's peak
# over exec), so the parent stays small (~20 MB) for children's peaks to be their own.

PACKAGE_INFO = """
import hashlib, json, pathlib, apsis_export
src = pathlib.Path(apsis_export.__file__).with_name("_generate.py").read_bytes()
print(json.dumps({"package": str(pathlib.Path(apsis_export.__file__).resolve().parent),
                  "version": apsis_export.__version__, "generator": hashlib.sha256(src).hexdigest()[:16]}))
"""


def package_info() -> dict:
    r = subprocess.run([sys.executable, "-c", PACKAGE_INFO], capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


def export_file(data_dir: Path, size: int, seed: int, gz: bool, sig: str, shape: str = "default") -> dict:
    """The export of ``size`` bytes for ``seed`` in ``shape`` (cached with its counts); generated
    when missing."""
    stem = f"export-{size}-seed{seed}" + ("" if shape == "default" else f"-{shape}")
    name = f"{stem}.json" + (".gz" if gz else "")
    path = data_dir / name
    meta_path = data_dir / (name + ".counts.json")
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("generator") == sig and meta.get("file_bytes") == path.stat().st_size:
            meta["cached"] = True
            return meta
    data_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "apsis_export",
        "generate",
        str(path),
        "--size",
        str(size),
        "--seed",
        str(seed),
        "--json",
        *SHAPES[shape],
    ] + (["--gzip"] if gz else [])
    start = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if r.returncode != 0:
        raise SystemExit(f"generate failed: {r.stderr.strip()}")
    stats = json.loads(r.stdout)
    meta = {
        **stats,
        "gzip": gz,
        "size": size,
        "shape": shape,
        "seed": seed,
        "generator": sig,
        "file_bytes": path.stat().st_size,
        "generate_seconds": seconds,
        "generate_mb_s": stats["bytes_json"] / seconds / 1e6,
    }
    if "seconds" in stats:  # generate() alone, without the process start-up
        meta["generate_mb_s_inside"] = stats["bytes_json"] / stats.pop("seconds") / 1e6
    meta_path.write_text(json.dumps(meta, indent=1))
    meta["cached"] = False
    return meta


# ---------------------------------------------------------------- jobs


def available(module: str, python: str) -> bool:
    return subprocess.run([python, "-c", f"import {module}"], capture_output=True).returncode == 0


def job_command(job: str, data: dict, out_dir: Path, args) -> list[str]:
    py = sys.executable
    path = data["path"]
    if job.startswith("convert:"):
        cmd = [py, str(HERE / "_jobs.py"), job, path, str(out_dir), "--engine", args.engine]
        return cmd + (["--options", args.options] if args.options else [])
    if job == "handwritten":
        return [py, str(HERE / "handwritten_ijson.py"), path, str(out_dir)]
    if job == "duckdb":
        return [
            py,
            str(HERE / "duckdb_baseline.py"),
            path,
            str(out_dir),
            "--memory-limit",
            args.duckdb_memory,
            "--json-bytes",
            str(data["bytes_json"]),
        ]
    return [py, str(HERE / "_jobs.py"), job, path]


def rows_of(job: str, output) -> tuple[dict | None, int | None]:
    """(profiles/attributes/events counts, rows for rows/s) from a job's output."""
    if not isinstance(output, dict):
        return None, None
    if job.startswith("convert:"):
        counts = {"profiles": output["profiles"], **output["rows"], "extras": output["extras"]}
    elif job in ("handwritten", "duckdb"):
        counts = dict(output)
    else:
        return None, None
    return counts, counts.get("attributes", 0) + counts.get("events", 0)


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def run_jobs(jobs: list[str], data: dict, args, work: Path, logs: Path, label: str) -> list[dict]:
    small = data["bytes_json"] < args.repeat_below
    repeats = args.repeat if small else 1
    runs: dict[str, list[Measured]] = {job: [] for job in jobs}
    outputs: dict[str, int] = {}
    for r in range(repeats):
        for job in jobs:
            out_dir = work / f"{label}-{job.replace(':', '-')}"
            shutil.rmtree(out_dir, ignore_errors=True)
            cap = args.rss_cap if job == "duckdb" else args.rss_cap_ours
            timeout = args.timeout
            m = measure(
                job_command(job, data, out_dir, args),
                timeout=timeout,
                rss_cap=cap,
                log=logs / f"{label}-{job.replace(':', '-')}-{r}.err",
            )
            outputs[job] = dir_bytes(out_dir)
            shutil.rmtree(out_dir, ignore_errors=True)
            runs[job].append(m)
            status = (
                f"{data['bytes_json'] / m['seconds'] / 1e6:8.1f} MB/s  {m['peak_rss_mb']:8.0f} MB RSS"
                if m["ok"]
                else f"FAILED: {m.get('error')}"
            )
            print(f"  [{label}] {job:<16} run {r + 1}/{repeats}: {m['seconds']:7.1f} s {status}", flush=True)
    results = []
    for job, ms in runs.items():
        ok = [m for m in ms if m["ok"]]
        entry = {
            "job": job,
            "kind": "ours" if job.startswith("convert:") else "baseline",
            "name": job.split(":", 1)[1] if job.startswith("convert:") else job,
            "size": data["size"],
            "gzip": data["gzip"],
            "shape": data.get("shape", "default"),
            "bytes_json": data["bytes_json"],
            "file_bytes": data["file_bytes"],
            "runs": [dict(m) for m in ms],
            "ok": bool(ok),
        }
        if ok:
            seconds = statistics.median(m["seconds"] for m in ok)
            entry.update(
                seconds=seconds,
                mb_s=data["bytes_json"] / seconds / 1e6,
                peak_rss_mb=statistics.median(m["peak_rss_mb"] for m in ok),
                cpu_s=statistics.median(m["cpu_s"] for m in ok),
                output_bytes=outputs.get(job, 0),
            )
            children = (
                ok[-1].get("output", {}).get("children_maxrss_kb")
                if isinstance(ok[-1].get("output"), dict)
                else 0
            )
            entry["children_peak_rss_mb"] = (children or 0) / 1024
            counts, rows = rows_of(job, ok[-1].get("output"))
            if counts is not None:
                entry["counts"] = counts
                entry["rows"] = rows
                entry["rows_s"] = rows / seconds
        else:
            entry["error"] = ms[-1].get("error")
        results.append(entry)
    return results


# ---------------------------------------------------------------- machine


def machine() -> dict:
    cpu = "?"
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    mem = 0
    try:
        mem = (
            int(
                next(
                    line.split()[1]
                    for line in Path("/proc/meminfo").read_text().splitlines()
                    if line.startswith("MemTotal")
                )
            )
            * 1024
        )
    except (OSError, StopIteration):
        pass
    probe = (
        "import json, importlib\nv = {}\nfor m in ('ijson', 'orjson', 'pyarrow', 'duckdb', 'isal'):\n"
        "    try: v[m] = importlib.import_module(m).__version__\n    except Exception: v[m] = None\n"
        "import ijson; v['ijson_backend'] = ijson.backend\nprint(json.dumps(v))"
    )
    versions = json.loads(
        subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    )
    info = package_info()
    versions["apsis_export"] = info["version"]

    def git(*a):
        r = subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else None

    package = Path(info["package"])
    from_tree = package == (ROOT / "src" / "apsis_export").resolve()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": versions,
        "package": str(package),
        "generator": info["generator"],
        "git_commit": git("rev-parse", "--short", "HEAD"),
        "git_dirty": from_tree and bool(git("status", "--porcelain", "--untracked-files=no", "--", "src")),
        "load_avg_start": os.getloadavg(),
    }


# ---------------------------------------------------------------- checks and reports


def check(results: list[dict], datas: dict, margin: float) -> list[str]:
    """Row counts equal to the generator's; peak RSS flat across sizes. Returns the failures."""
    failures = []
    for r in results:
        if r["kind"] != "ours":
            continue
        place = f"{r['name']} {where(r)}"
        if not r["ok"]:
            failures.append(f"{place}: conversion failed: {r.get('error')}")
            continue
        gen = datas[key(r)]
        got = r["counts"]
        for table in ("profiles", "attributes", "events"):
            if got.get(table) != gen[table]:
                failures.append(
                    f"{place}: {table} {got.get(table):,} rows, the generator wrote {gen[table]:,}"
                )
        if got.get("extras") != gen["extras"]:
            failures.append(f"{place}: {got.get('extras')} unknown keys, the generator wrote {gen['extras']}")
    for (sink, gz, shape), series in rss_series(results).items():
        (s0, rss0), *rest = series
        what = f"{sink} {'gzip' if gz else 'plain'}" + ("" if shape == "default" else f" {shape}")
        for s, rss in rest:
            if rss > rss0 * (1 + margin):
                failures.append(
                    f"{what}: peak RSS grows with file size: "
                    f"{rss:.0f} MB at {human(s)} vs {rss0:.0f} MB "
                    f"at {human(s0)} (+{rss / rss0 - 1:.0%} > +{margin:.0%})"
                )
    return failures


def rss_series(results: list[dict]) -> dict:
    """Ours: (sink, gzip, shape) -> [(size asked for, peak RSS MB)] by size."""
    series: dict = {}
    for r in results:
        if r["kind"] == "ours" and r["ok"]:
            series.setdefault((r["name"], r["gzip"], r.get("shape", "default")), []).append(
                (r["size"], r["peak_rss_mb"])
            )
    return {k: sorted(v) for k, v in series.items()}


def headline(results: list[dict], reference: str) -> list[dict]:
    """Per size, input and shape: ours (``reference`` sink) MB/s ÷ each baseline's MB/s."""
    rows = []
    for size, gz, shape in sorted({key(r) for r in results}):
        group = {r["name"]: r for r in results if key(r) == (size, gz, shape)}
        ours = group.get(reference)
        if not ours or not ours["ok"]:
            continue
        ratios = {}
        for name in BASELINES:
            b = group.get(name)
            if b is None:
                continue
            ratios[name] = ours["mb_s"] / b["mb_s"] if b["ok"] else None
        rows.append(
            {
                "size": size,
                "gzip": gz,
                "shape": shape,
                "ours_mb_s": ours["mb_s"],
                "ours_cpu_s_per_gb": ours.get("cpu_s", 0) / (ours["bytes_json"] / 1e9) or None,
                "ours_rows_s": ours.get("rows_s"),
                "ours_peak_rss_mb": ours["peak_rss_mb"],
                "ratios": ratios,
            }
        )
    return rows


def fmt(x, spec=",.1f", none="–"):
    return none if x is None else format(x, spec)


def markdown(report: dict) -> str:
    m = report["machine"]
    v = m["versions"]
    runs = report.get("runs") or [{"date": report["date"], "command": report["command"]}]
    lines = [f"# apsis-export benchmark ({runs[0]['date']})", ""]
    if len(runs) == 1:
        lines += [f"Command: `{runs[0]['command']}`", ""]
    else:
        lines += [
            f"Commands ({len(runs)} invocations, merged; a job measured again replaces the earlier one):",
            "",
        ]
        lines += [f"{i}. {r['date']}: `{r['command']}`" for i, r in enumerate(runs, 1)] + [""]
    lines += [
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB RAM, {m['os']}, Python {m['python']}; "
        f"apsis-export {v.get('apsis_export')} (commit {m['git_commit']}{', modified' if m['git_dirty'] else ''}), "
        f"engine `{report['engine']}`; ijson {v.get('ijson')} ({v.get('ijson_backend')}), orjson {v.get('orjson')}, "
        f"pyarrow {v.get('pyarrow')}, duckdb {v.get('duckdb') or 'not installed'}, "
        f"isal {v.get('isal') or 'not installed'}. Load average at start: "
        f"{', '.join(f'{x:.2f}' for x in m['load_avg_start'])} (other work shares the machine).",
        "",
        "MB/s = 10^6 bytes of uncompressed JSON per second of the whole child process (start-up included); "
        "rows = attributes + events rows; CPU-s/GB = the child's user + system CPU seconds per 10^9 bytes "
        "of JSON (all its threads; steadier than MB/s on a shared machine); "
        "peak RSS = the child's maximum resident set (wait4). "
        + (
            f"Files below {human(report['repeat_below'])}: median of {report['repeat']} interleaved runs."
            if report["repeat"] > 1
            else "One run per job."
        ),
        "",
    ]
    for note in report.get("notes", []):  # added by hand after a run, e.g. about its conditions
        lines += [f"> {note}", ""]
    hl = report["headline"]
    if hl:
        names = [n for n in BASELINES if any(n in h["ratios"] for h in hl)]
        lines += [
            f"## Headline: ours ({report['reference']}) ÷ baseline, MB/s ratio",
            "",
            "| size | input | shape | ours MB/s | ours rows/s | ours CPU-s/GB | "
            + " | ".join(f"÷ {n}" for n in names)
            + " |",
            "|---|---|---|--:|--:|--:|" + "--:|" * len(names),
        ]
        for h in hl:
            cells = []
            for n in names:
                if n not in h["ratios"]:
                    cells.append("")
                else:
                    x = h["ratios"][n]
                    cells.append("failed" if x is None else (f"{x:.2f}×" if x >= 0.1 else f"{x:.2g}×"))
            lines.append(
                f"| {human(h['size'])} | {'gzip' if h['gzip'] else 'plain'} | {h.get('shape', 'default')} | "
                f"{h['ours_mb_s']:.1f} | {fmt(h['ours_rows_s'], ',.0f')} | {fmt(h.get('ours_cpu_s_per_gb'), '.2f')} | "
                + " | ".join(cells)
                + " |"
            )
        lines.append("")
    lines += [
        "## All jobs",
        "",
        "| size | input | shape | job | MB/s | rows/s | CPU-s/GB | peak RSS MB | output MB | s | note |",
        "|---|---|---|---|--:|--:|--:|--:|--:|--:|---|",
    ]
    for r in report["results"]:
        name = f"**ours: {r['name']}**" if r["kind"] == "ours" else r["name"]
        inp = f"{'gzip' if r['gzip'] else 'plain'} ({human(r['file_bytes'])}) | {r.get('shape', 'default')}"
        if r["ok"]:
            note = f"{len(r['runs'])} runs" if len(r["runs"]) > 1 else ""
            cpu = r.get("cpu_s", 0) / (r["bytes_json"] / 1e9) or None
            lines.append(
                f"| {human(r['size'])} | {inp} | {name} | {r['mb_s']:.1f} | {fmt(r.get('rows_s'), ',.0f')} | "
                f"{fmt(cpu, '.2f')} | {r['peak_rss_mb']:,.0f} | "
                f"{fmt(r['output_bytes'] / 1e6 if r['output_bytes'] else None)} | {r['seconds']:.1f} | {note} |"
            )
        else:
            lines.append(
                f"| {human(r['size'])} | {inp} | {name} | – | – | – | – | – | – | {r.get('error')} |"
            )
    lines += ["", "## Memory: peak RSS (MB) of our conversion by file size", ""]
    series = rss_series(report["results"])
    sizes = sorted({s for v in series.values() for s, _ in v})
    if series:
        lines += [
            "| sink | input | shape | " + " | ".join(human(s) for s in sizes) + " | largest ÷ smallest |",
            "|---|---|---|" + "--:|" * (len(sizes) + 1),
        ]
        for (sink, gz, shape), pts in sorted(series.items()):
            d = dict(pts)
            lines.append(
                f"| {sink} | {'gzip' if gz else 'plain'} | {shape} | "
                + " | ".join(fmt(d.get(s), ",.0f") for s in sizes)
                + f" | {pts[-1][1] / pts[0][1]:.3f} |"
            )
        lines.append("")
    gens = [g for g in report["data"] if not g.get("cached")]
    if gens:
        lines += [
            "Generator (`apsis-export generate`; MB/s of JSON written, whole process and in `generate()`): "
            + "; ".join(
                f"{where(g)} {g['generate_mb_s']:.0f}"
                + (f" / {g['generate_mb_s_inside']:.0f}" if g.get("generate_mb_s_inside") else "")
                + " MB/s"
                for g in gens
            ),
            "",
        ]
    left_out = report.get("skipped_jobs", []) + [
        f"{b}: {why}" for b, why in report.get("skipped_baselines", {}).items()
    ]
    if left_out:
        lines += ["Left out of this run: " + "; ".join(left_out) + ".", ""]
    checks = report["failures"]
    lines += [
        "## Checks",
        "",
        (
            f"Row counts equal the generator's and peak RSS is flat within +{report['rss_margin']:.0%}: "
            + ("**pass**" if not checks else "**FAIL**")
        ),
        "",
    ]
    lines += [f"- {f}" for f in checks]
    return "\n".join(lines).rstrip() + "\n"


def plot(report: dict, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    results = [r for r in report["results"] if r["ok"]]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(15, 6))
    names = [f"ours: {s}" for s in SINKS] + list(BASELINES)
    cmap = plt.get_cmap("tab10")
    color = {name: cmap(i) for i, name in enumerate(names)}
    groups = sorted({key(r) for r in report["results"]})
    width = 0.8 / len(names)

    def label(r):
        return f"ours: {r['name']}" if r["kind"] == "ours" else r["name"]

    for i, name in enumerate(names):
        xs, ys = [], []
        for g, group in enumerate(groups):
            for r in report["results"]:
                if label(r) == name and key(r) == group:
                    x = g + (i - len(names) / 2) * width + width / 2
                    if r["ok"]:
                        xs.append(x)
                        ys.append(r["mb_s"])
                    else:
                        ax1.text(
                            x,
                            2.2,
                            f"{name} failed",
                            rotation=90,
                            fontsize=7,
                            ha="center",
                            va="bottom",
                            color=color[name],
                        )
        if xs:
            ax1.bar(
                xs,
                ys,
                width,
                label=name,
                color=color[name],
                edgecolor="black" if name.startswith("ours") else None,
            )
    ax1.set_xticks(range(len(groups)))
    ax1.set_xticklabels(
        [
            f"{human(s)}\n{'gzip' if gz else 'plain'}" + ("" if sh == "default" else f"\n{sh}")
            for s, gz, sh in groups
        ]
    )
    ax1.set_yscale("log")
    ax1.set_ylim(bottom=2)
    ax1.set_ylabel("MB/s of JSON (log scale)")
    ax1.set_title("Throughput per sink and baseline")
    ax1.legend(fontsize=8, ncol=2)
    ax1.grid(axis="y", which="both", alpha=0.3)
    for (sink, gz, shape), pts in sorted(rss_series(report["results"]).items()):
        ax2.plot(
            [s / 1e9 for s, _ in pts],
            [m for _, m in pts],
            marker="o" if shape == "default" else "^",
            color=color[f"ours: {sink}"],
            linestyle=":" if gz else "-",
            label=f"ours: {sink} {'gzip' if gz else 'plain'}" + ("" if shape == "default" else f" {shape}"),
        )
    for name in ("handwritten", "duckdb"):
        pts = sorted(
            (r["bytes_json"], r["peak_rss_mb"])
            for r in results
            if r["name"] == name and not r["gzip"] and r.get("shape", "default") == "default"
        )
        if pts:
            ax2.plot(
                [s / 1e9 for s, _ in pts],
                [m for _, m in pts],
                marker="s",
                linestyle="--",
                color=color[name],
                label=f"{name} (plain)",
            )
        for r in report["results"]:
            if r["name"] == name and not r["ok"] and not r["gzip"]:
                ax2.plot(
                    [r["bytes_json"] / 1e9],
                    [report.get("rss_cap_mb", 14000)],
                    marker="x",
                    markersize=10,
                    color=color[name],
                    linestyle="none",
                    label=f"{name} failed at {human(r['size'])}",
                )
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set_xlabel("file size, GB of JSON (log)")
    ax2.set_ylabel("peak RSS, MB (log)")
    ax2.set_title("Peak RSS against file size")
    ax2.legend(fontsize=8)
    ax2.grid(which="both", alpha=0.3)
    m = report["machine"]
    fig.suptitle(
        f"apsis-export {report['engine']} engine, {report['date']}: {m['cpu']}, {m['cores']} cores, "
        f"{m['memory_gib']} GiB, Python {m['python']}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# ---------------------------------------------------------------- main


def finish(report: dict, datas: dict, args, started: float, measured: list[dict]) -> None:
    report["results"] = list(measured)
    if args.merge:
        earlier = json.loads(Path(args.merge).read_text())
        mine = {(*key(r), r["job"]) for r in measured}
        kept = [r for r in earlier["results"] if (*key(r), r["job"]) not in mine]
        for d in earlier["data"]:
            datas.setdefault(key(d), d)
        order = list(BASELINES) + list(SINKS)
        report["results"] = sorted(
            kept + list(measured),
            key=lambda r: (
                *key(r),
                r["kind"] == "ours",
                order.index(r["name"]) if r["name"] in order else 99,
            ),
        )
        merged_data = {}
        for d in earlier["data"] + report["data"]:
            if key(d) not in merged_data or not d.get("cached"):
                merged_data[key(d)] = d
        report["data"] = list(merged_data.values())
        earlier_runs = earlier.get("runs") or [{"date": earlier["date"], "command": earlier["command"]}]
        this_run = {"date": report["date"], "command": report["command"]}
        # The results file is rewritten as jobs finish, so it may already list this run.
        report["runs"] = earlier_runs + ([this_run] if this_run not in earlier_runs else [])
        done = {f"{where(r)} {r['job']}" for r in report["results"]}
        report["skipped_jobs"] = sorted(
            (set(earlier.get("skipped_jobs", [])) | set(report["skipped_jobs"])) - done
        )
    report["seconds"] = time.perf_counter() - started
    report["machine"]["load_avg_end"] = os.getloadavg()
    report["headline"] = headline(report["results"], report["reference"])
    report["failures"] = check(report["results"], datas, args.rss_margin)


def write_report(report: dict, out: Path, quiet: bool = False, in_process: bool = False) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    (out / "results.md").write_text(markdown(report))
    if in_process:
        plotted = plot(report, out / "results.png")
    else:  # matplotlib in the harness would grow it, and children inherit its peak RSS (see above)
        plotted = (
            subprocess.run(
                [sys.executable, __file__, "--replot", str(out / "results.json"), "--out", str(out)],
                capture_output=True,
            ).returncode
            == 0
            and (out / "results.png").exists()
        )
    if not quiet:
        print(
            f"wrote {out / 'results.json'}, {out / 'results.md'}"
            + (f", {out / 'results.png'}" if plotted else " (no plot: matplotlib not installed)")
        )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100MB,1GB,4GB", help="JSON sizes, comma-separated [%(default)s]")
    ap.add_argument("--sinks", default=",".join(SINKS), help="our sinks to measure [%(default)s]")
    ap.add_argument("--inputs", default="plain,gzip", help="plain and/or gzip [%(default)s]")
    ap.add_argument(
        "--baselines",
        default=",".join(BASELINES),
        help="baselines to run, or 'none' [%(default)s]; missing modules are skipped",
    )
    ap.add_argument(
        "--engine", default="fast", help="apsis-export engine (the library default: fast) [%(default)s]"
    )
    ap.add_argument("--options", default="", help="more apsis_export.convert keyword arguments, as JSON")
    ap.add_argument(
        "--skip",
        default="",
        help="jobs to leave out, comma-separated SIZE:INPUT:JOB, e.g. 4GB:gzip:handwritten,4GB:gzip:convert:csv",
    )
    ap.add_argument(
        "--replot", metavar="RESULTS_JSON", help="only rewrite results.md/.png from a results.json"
    )
    ap.add_argument(
        "--merge",
        metavar="RESULTS_JSON",
        help="add this run's jobs to an earlier run's results (same machine; jobs measured again replace "
        "the earlier ones; the headline keeps the earlier run's reference sink)",
    )
    ap.add_argument(
        "--shapes",
        default="default",
        help=f"export shapes, comma-separated, of {', '.join(SHAPES)} [%(default)s]",
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--repeat", type=int, default=3, help="runs per job on small files (median) [%(default)s]"
    )
    ap.add_argument(
        "--repeat-below", default="500MB", help="files smaller than this are repeated [%(default)s]"
    )
    ap.add_argument("--rss-margin", type=float, default=0.10, help="allowed peak RSS growth [%(default)s]")
    ap.add_argument("--rss-cap", default="14GB", help="kill a baseline beyond this RSS [%(default)s]")
    ap.add_argument("--rss-cap-ours", default="8GB", help="kill our conversion beyond this RSS [%(default)s]")
    ap.add_argument("--duckdb-memory", default="12GB", help="DuckDB memory_limit [%(default)s]")
    ap.add_argument(
        "--duckdb-max",
        default="1GB",
        help="run DuckDB on files up to this size: it holds the whole document (7.4 GB RSS at 1 GB; "
        "out of memory at 4 GB) [%(default)s]",
    )
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per job [%(default)s]")
    ap.add_argument(
        "--data-dir", default="/tmp/apsis-bench-data", help="generated exports (cached) [%(default)s]"
    )
    ap.add_argument("--work-dir", default=None, help="outputs of jobs, deleted after each [DATA_DIR/work]")
    ap.add_argument(
        "--out", default=str(HERE / "results"), help="where results.{json,md,png} go [%(default)s]"
    )
    ap.add_argument(
        "--check-only",
        action="store_true",
        help="print the table, write nothing to --out (CI); exit 1 on a failed check as always",
    )
    ap.add_argument(
        "--keep-data", action="store_true", help="keep generated files (default: keep; see --clean)"
    )
    ap.add_argument("--clean", action="store_true", help="delete the generated files at the end")
    args = ap.parse_args(argv)
    if args.replot:
        report = json.loads(Path(args.replot).read_text())
        report["headline"] = headline(report["results"], report["reference"])  # columns added since
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.md").write_text(markdown(report))
        if plot(report, out / "results.png"):
            print(f"wrote {out / 'results.md'}, {out / 'results.png'}")
        else:
            print(f"wrote {out / 'results.md'} (no plot: matplotlib not installed)")
        return 0

    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    sinks = [s.strip() for s in args.sinks.split(",") if s.strip()]
    inputs = [s.strip() for s in args.inputs.split(",") if s.strip()]
    shapes = [s.strip() for s in args.shapes.split(",") if s.strip()]
    for shape in shapes:
        if shape not in SHAPES:
            ap.error(f"unknown shape {shape!r}; choose from {', '.join(SHAPES)}")
    wanted = (
        []
        if args.baselines.strip() == "none"
        else [b.strip() for b in args.baselines.split(",") if b.strip()]
    )
    args.repeat_below = parse_size(args.repeat_below)
    args.rss_cap = parse_size(args.rss_cap)
    args.duckdb_max = parse_size(args.duckdb_max)
    args.rss_cap_ours = parse_size(args.rss_cap_ours)
    data_dir = Path(args.data_dir)
    work = Path(args.work_dir) if args.work_dir else data_dir / "work"
    logs = data_dir / "logs"
    for b in wanted:
        if b not in BASELINES:
            ap.error(f"unknown baseline {b!r}; choose from {', '.join(BASELINES)}")
    skipped = {}
    if "duckdb" in wanted and not available("duckdb", sys.executable):
        skipped["duckdb"] = "duckdb not installed (pip install -e '.[bench]')"
    if "gunzip-isal" in wanted and not available("isal", sys.executable):
        skipped["gunzip-isal"] = "isal not installed"
    wanted = [b for b in wanted if b not in skipped]
    for b, why in skipped.items():
        print(f"skipping baseline {b}: {why}", flush=True)

    report = {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python benchmarks/run.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "engine": args.engine,
        "options": args.options,
        "machine": machine(),
        "repeat": args.repeat,
        "repeat_below": args.repeat_below,
        "rss_margin": args.rss_margin,
        "reference": sinks[0] if sinks else None,
        "skipped_baselines": skipped,
        "data": [],
        "results": [],
    }
    if args.merge:
        earlier = json.loads(Path(args.merge).read_text())
        report["merged_from"] = {
            "date": earlier["date"],
            "command": earlier["command"],
            "machine": earlier["machine"],
        }
        report["reference"] = earlier["reference"]
        report["notes"] = earlier.get("notes", [])
        report["skipped_baselines"] = earlier.get("skipped_baselines", {})
    skip = set()
    for item in filter(None, (x.strip() for x in args.skip.split(","))):
        size_text, inp, job = item.split(":", 2)
        skip.add((parse_size(size_text), inp, job))
    report["skipped_jobs"] = []
    datas = {}
    measured: list[dict] = []
    started = time.perf_counter()
    for size in sizes:
        for shape in shapes:
            for inp in inputs:
                gz = inp == "gzip"
                data = export_file(data_dir, size, args.seed, gz, report["machine"]["generator"], shape)
                datas[key(data)] = data
                report["data"].append(data)
                print(
                    f"{where(data)}: {data['path']} ({human(data['file_bytes'])}; {data['profiles']:,} profiles, "
                    f"{data['attributes']:,} attributes, {data['events']:,} events)"
                    + ("" if data["cached"] else f", generated at {data['generate_mb_s']:.0f} MB/s"),
                    flush=True,
                )
                jobs = [b for b in wanted if gz or b not in ("gunzip", "gunzip-isal")]
                jobs += [f"convert:{s}" for s in sinks]
                left = [j for j in jobs if (size, inp, j) in skip]
                too_big = [j for j in jobs if j == "duckdb" and j not in left and size > args.duckdb_max]
                report["skipped_jobs"] += [f"{where(data)} {j}" for j in left] + [
                    f"{where(data)} {j} (above --duckdb-max {human(args.duckdb_max)})" for j in too_big
                ]
                jobs = [j for j in jobs if j not in left and j not in too_big]
                label = f"{human(size).replace(' ', '')}-{inp}" + ("" if shape == "default" else f"-{shape}")
                measured += run_jobs(jobs, data, args, work, logs, label)
                finish(report, datas, args, started, measured)
                if not args.check_only:  # after each file: a long run that is stopped keeps what it measured
                    write_report(report, Path(args.out), quiet=True)
    finish(report, datas, args, started, measured)
    print()
    print(markdown(report))
    if not args.check_only:
        write_report(report, Path(args.out))
    if args.clean:
        for d in report["data"]:
            Path(d["path"]).unlink(missing_ok=True)
    shutil.rmtree(work, ignore_errors=True)
    if report["failures"]:
        print("benchmark checks FAILED:", *report["failures"], sep="\n  ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
