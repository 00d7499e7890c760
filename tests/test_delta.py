"""Delta Lake output (--to delta), read back with deltalake.DeltaTable: two days appended,
a column a later export brings merged into the schema, overwrite, skip, and a bad input
that commits nothing."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from apsis_export import InputError, convert
from apsis_export.cli import main

from .conftest import SAMPLE_DATA, wrapped

deltalake = pytest.importorskip("deltalake")
EUROPE = "usercreated.sections.europe-r6tz73a27t"


def event(type_id: str, created_at: int) -> dict:
    return {"correlationId": f"c{created_at}", "typeId": type_id, "createdAt": created_at, "data": {"n": 1}}


DAY_1 = wrapped(
    {
        "anna": {
            EUROPE: {
                "attributes": {"10452": {"value": "a@x"}, "10453": {"value": True}},
                "events": [event("4381", 1_700_000_000_000)],
            }
        },
        "ben": {EUROPE: {"attributes": {"10452": {"value": "b@x"}}}},
    }
)
DAY_2 = wrapped(
    {  # 10453 is gone, 10454 is new
        "cleo": {
            EUROPE: {
                "attributes": {"10452": {"value": "c@x"}, "10454": {"value": 42}},
                "events": [event("4382", 1_700_086_400_000), event("4381", 1_700_086_500_000)],
            }
        },
    }
)


@pytest.fixture
def days(write_export):
    return write_export(DAY_1, name="day-1.json"), write_export(DAY_2, name="day-2.json")


def delta_rows(path) -> pa.Table:
    table = deltalake.DeltaTable(str(path)).to_pyarrow_table()
    return table.sort_by(
        [(c, "ascending") for c in table.column_names if c in ("profile_key", "attribute_id", "created_at")]
    )


def parquet_rows(tmp_path, source, table: str, **options) -> pa.Table:
    out = tmp_path / f"parquet-{source.stem}"
    convert(source, out, if_exists="overwrite", **options)
    return pq.read_table(out / f"{table}.parquet")


def test_two_days_append_and_a_new_column_is_merged(tmp_path, days):
    day1, day2 = days
    out = tmp_path / "lake"
    for day in days:
        summary = convert(day, out, format="delta", layout="wide")
    assert summary.outputs["profiles"] == f"{out}/profiles"
    assert deltalake.DeltaTable(str(out / "profiles")).version() == 1  # one commit a day

    profiles = delta_rows(out / "profiles")
    assert profiles.column("profile_key").to_pylist() == ["anna", "ben", "cleo"]
    columns = {name: profiles.column(name).to_pylist() for name in profiles.column_names}
    day1_columns = set(parquet_rows(tmp_path, day1, "profiles", layout="wide").column_names)
    day2_columns = set(parquet_rows(tmp_path, day2, "profiles", layout="wide").column_names)
    assert set(columns) == day1_columns | day2_columns and day1_columns != day2_columns
    new_in_day2 = sorted(day2_columns - day1_columns)
    gone_in_day2 = sorted(day1_columns - day2_columns)
    assert new_in_day2 and gone_in_day2
    for name in new_in_day2:  # older rows null
        assert columns[name][:2] == [None, None] and columns[name][2] is not None
    for name in gone_in_day2:
        assert columns[name][2] is None

    events = delta_rows(out / "events")
    expected = pa.concat_tables([parquet_rows(tmp_path, d, "events") for d in days])
    assert events.num_rows == expected.num_rows == 3
    assert events.column("type_id").to_pylist() == ["4381", "4382", "4381"]
    assert events.column("created_at").cast(pa.int64()).to_pylist() == [
        v * 1000 if events.schema.field("created_at").type.unit == "us" else v
        for v in expected.column("created_at").cast(pa.int64()).to_pylist()
    ]


def test_delta_rows_equal_the_parquet_file(tmp_path):
    out = tmp_path / "lake"
    small = SAMPLE_DATA / "small.json.gz"
    convert(small, out, format="delta", tables=["attributes"])
    written = parquet_rows(tmp_path, small, "attributes", tables=["attributes"])
    delta = deltalake.DeltaTable(str(out / "attributes")).to_pyarrow_table()
    key = [(c, "ascending") for c in written.column_names]
    assert delta.sort_by(key).equals(written.sort_by(key))


def test_overwrite_replaces_and_skip_keeps(tmp_path, days):
    day1, day2 = days
    out = tmp_path / "lake"
    convert(day1, out, format="delta", tables=["attributes"])
    convert(day2, out, format="delta", tables=["attributes"], if_exists="skip")
    assert delta_rows(out / "attributes").column("profile_key").unique().to_pylist() == ["anna", "ben"]
    convert(day2, out, format="delta", tables=["attributes"], if_exists="overwrite")
    assert delta_rows(out / "attributes").column("profile_key").unique().to_pylist() == ["cleo"]


def test_bad_input_commits_nothing(tmp_path, days, write_export):
    day1, _ = days
    out = tmp_path / "lake"
    convert(day1, out, format="delta")
    version = deltalake.DeltaTable(str(out / "events")).version()
    text = json.dumps(DAY_2)
    with pytest.raises(InputError):
        convert(write_export(text[: len(text) - 40]), out, format="delta")
    for table in ("attributes", "events"):
        assert deltalake.DeltaTable(str(out / table)).version() == version
    assert delta_rows(out / "attributes").column("profile_key").unique().to_pylist() == ["anna", "ben"]
    assert sorted(p.name for p in out.iterdir()) == ["attributes", "events"]  # no staging left


def test_cli_to_delta(tmp_path, days):
    out = tmp_path / "lake"
    for day in days:
        result = CliRunner().invoke(main, ["convert", str(day), "--to", "delta", "--out", str(out), "-q"])
        assert result.exit_code == 0, result.output
    assert delta_rows(out / "attributes").column("profile_key").unique().to_pylist() == [
        "anna",
        "ben",
        "cleo",
    ]
