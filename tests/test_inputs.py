"""Input exports named by paths, URIs and glob patterns (apsis_export._inputs)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from apsis_export import OptionsError
from apsis_export._inputs import display, expand, export_name, opened


def test_glob_expansion(tmp_path):
    for name in ("a/x.json", "a/y.json.gz", "a/b/z.json.gz", "c/w.json.gz"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"{}")
    root = str(tmp_path)
    assert expand(f"{root}/a/*") == [f"{root}/a/x.json", f"{root}/a/y.json.gz"]
    assert expand(f"{root}/*/*.gz") == [f"{root}/a/y.json.gz", f"{root}/c/w.json.gz"]
    assert expand(f"{root}/**/*.gz") == [
        f"{root}/a/b/z.json.gz",
        f"{root}/a/y.json.gz",
        f"{root}/c/w.json.gz",
    ]
    assert expand(f"{root}/a/[xy].json") == [f"{root}/a/x.json"]
    assert expand(f"{root}/a/x.json") == [f"{root}/a/x.json"]
    assert expand(f"file://{root}/a/*.json") == [f"file://{root}/a/x.json"]
    assert expand([f"{root}/c/*", f"{root}/a/x.json", f"{root}/c/w.json.gz"]) == [
        f"{root}/c/w.json.gz",
        f"{root}/a/x.json",
    ]  # in order, each once


def test_nothing_matching_and_folders_are_errors(tmp_path):
    with pytest.raises(OptionsError, match=r"no export file matches .*nothing"):
        expand(str(tmp_path / "nothing" / "*.json"))
    with pytest.raises(OptionsError, match="no export file matches"):
        expand(str(tmp_path / "absent.json"))
    with pytest.raises(OptionsError, match="is a folder"):
        expand(tmp_path)


def test_a_uri_query_is_kept_for_opening_and_left_out_of_messages(tmp_path):
    (tmp_path / "day-1.json").write_bytes(b"{}")
    uri = "s3://bucket/exports/day-?.json?endpoint_override=127.0.0.1:1&access_key=secret"
    assert display(uri) == "s3://bucket/exports/day-?.json"
    assert export_name(uri) == "day-?.json"
    assert export_name(str(tmp_path / "day-1.json")) == "day-1.json"
    with opened(str(tmp_path / "day-1.json")) as source:
        assert source == str(tmp_path / "day-1.json")
    with opened(f"file://{tmp_path}/day-1.json") as source:
        assert source == str(tmp_path / "day-1.json")


def test_importing_the_package_imports_neither_spark_nor_dlt():
    code = "import sys, apsis_export; print(sorted(m for m in ('pyspark', 'dlt') if m in sys.modules))"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        == "[]\n"
    )
