"""The options every conversion shares (ConvertOptions) and the modes they take: one check,
the same answer from every entry point, plain strings as good as the enums."""

from __future__ import annotations

import gzip
import os
import pickle
import shutil
from pathlib import Path

import pyarrow.dataset as ds
import pytest

import apsis_export
from apsis_export import (
    EngineName,
    ExportId,
    IfExists,
    InputLayout,
    Layout,
    OptionsError,
    batches,
    convert,
    convert_many,
    to_arrow,
)
from apsis_export._pipeline import ConvertOptions

TINY = Path(__file__).resolve().parent.parent / "sample_data" / "tiny.json"


@pytest.mark.parametrize("mode", [Layout, InputLayout, EngineName, IfExists, ExportId])
def test_a_mode_is_its_string(mode):
    for member in mode:
        assert mode(member.value) is member and member == member.value
        assert str(member) == f"{member}" == member.value
        assert {member.value: 1}[member] == 1 and {member: 1}[member.value] == 1
        assert pickle.loads(pickle.dumps(member)) is member  # noqa: S301  (--jobs and many inputs' workers)


BAD_OPTIONS = [
    ({"layout": "tall"}, "layout must be one of long, wide, not 'tall'"),
    ({"input_layout": "sideways"}, "layout must be one of auto, wrapped, bare, not 'sideways'"),
    ({"engine": "slow"}, "unknown engine 'slow'; available: fast, exact"),
    ({"tables": ["attributes", "nope"]}, "unknown table 'nope'; tables are attributes, events,"),
]
CONVERTING = ["convert", "to_arrow", "batches", "convert_many", "options"]


@pytest.mark.parametrize(
    ("entry", "option", "message"),
    [(entry, *bad) for entry in CONVERTING for bad in BAD_OPTIONS]
    + [("read", *bad) for bad in BAD_OPTIONS if "layout" not in bad[0] and "tables" not in bad[0]],
)
def test_every_entry_point_refuses_a_bad_option_alike(tmp_path, entry, option, message):
    calls = {
        "convert": lambda **o: convert(TINY, tmp_path / "out", **o),
        "to_arrow": lambda tables=None, **o: to_arrow(TINY, *(tables[1:] if tables else ()), **o),
        "batches": lambda **o: batches(TINY, **o),
        "convert_many": lambda **o: convert_many([TINY], tmp_path / "out", **o),
        "read": lambda **o: next(apsis_export.read(TINY, **o)),
        "options": ConvertOptions,
    }
    with pytest.raises(OptionsError, match=message):
        calls[entry](**option)
    assert not (tmp_path / "out").exists()  # nothing started: many inputs fail at once, not per input


def test_if_exists_is_checked_alike_for_one_and_many_inputs(tmp_path):
    for call in (convert, lambda *a, **o: convert_many([a[0]], a[1], **o)):
        with pytest.raises(
            OptionsError, match="if_exists must be one of error, overwrite, skip, not 'maybe'"
        ):
            call(TINY, tmp_path / "out", if_exists="maybe")


def test_modes_as_strings_or_enums_write_the_same_tables(tmp_path):
    as_strings = convert(TINY, tmp_path / "a", layout="wide", engine="exact", input_layout="auto")
    as_enums = convert(
        TINY, tmp_path / "b", layout=Layout.WIDE, engine=EngineName.EXACT, input_layout=InputLayout.AUTO
    )
    assert as_strings.rows == as_enums.rows and {"profiles", "events"} <= set(as_strings.rows)
    for table in as_strings.rows:
        assert (tmp_path / "a" / f"{table}.parquet").read_bytes() == (
            tmp_path / "b" / f"{table}.parquet"
        ).read_bytes()


def test_tables_are_kept_once_in_order_from_any_iterable(tmp_path):
    options = ConvertOptions(tables=iter(["events", "attributes", "events"]))
    assert options.tables == ("events", "attributes") and options.wanted == ("events", "attributes")
    assert ConvertOptions(layout="wide").wanted == ("profiles", "events")
    # a generator of tables is read once: the wide columns still come from a first pass
    summary = convert(TINY, tmp_path, tables=(t for t in ["profiles"]))
    assert set(summary.rows) == {"profiles"} and summary.rows["profiles"] > 0


@pytest.mark.parametrize(
    ("options", "first_pass"),
    [
        ({}, False),
        ({"layout": "wide"}, True),
        ({"layout": "wide", "tables": ["events"]}, False),
        ({"tables": ["attributes", "profiles"]}, True),
        ({"split_events": True}, True),
        ({"split_events": True, "tables": ["attributes"]}, False),
        ({"layout": "wide", "names": apsis_export.generated_metadata()}, False),
        ({"layout": "wide", "schema": apsis_export.WideSchema()}, False),
    ],
)
def test_a_first_pass_is_needed_only_for_columns_not_known_up_front(options, first_pass):
    assert ConvertOptions(**options).needs_first_pass is first_pass


def test_an_export_id_rule_may_be_named(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("day-1.json", "day-2.json"):
        shutil.copy(TINY, folder / name)
    summary = convert_many(str(folder / "*.json"), tmp_path / "out", export_id="stem")
    exports = ds.dataset(tmp_path / "out" / "events", format="parquet").to_table().column("export")
    assert summary.ok and sorted(set(exports.to_pylist())) == ["day-1", "day-2"]
    with pytest.raises(OptionsError, match="export_id must be a function or one of name, stem, parent"):
        convert_many(str(folder / "*.json"), tmp_path / "other", export_id="folder")


def test_two_inputs_that_would_write_the_same_files_are_refused_before_any_is_read(tmp_path):
    (tmp_path / "a").mkdir()
    shutil.copy(TINY, tmp_path / "a" / "day.json")
    # another name, but the same files (day-0.parquet)
    (tmp_path / "day.json.gz").write_bytes(gzip.compress(TINY.read_bytes()))
    with pytest.raises(
        OptionsError, match=r"day.json and .*day.json.gz are both export 'day': give export_id="
    ):
        convert_many([tmp_path / "a" / "day.json", tmp_path / "day.json.gz"], tmp_path / "out")
    assert not os.path.exists(tmp_path / "out") or not os.listdir(tmp_path / "out")
