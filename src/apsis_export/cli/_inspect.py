"""``apsis-export inspect``: what an export holds, as a readable report or JSON."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .._engines import DEFAULT_ENGINE
from .._inspect import InspectReport, inspect
from .._metadata import Metadata
from .._modes import EngineName, InputLayout
from ._common import friendly_errors, mode_values, run_with_progress


def _table(headers: list[str], rows: list[list], right: set[int]) -> list[str]:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def fmt(row: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()

    return [fmt(headers), fmt(["-" * w for w in widths])] + [fmt(r) for r in cells]


def headline(report: InspectReport) -> str:
    """The report's first line: what the file holds, in counts."""
    return (
        f"{report.source}: {report.profiles:,} profiles ({report.empty_profiles:,} without attributes or events), "
        f"{report.attribute_rows:,} attribute rows, {report.event_rows:,} events, "
        f"{sum(report.unknown_keys.values()):,} unknown keys"
    )


def render(report: InspectReport) -> str:
    """The report as text for a terminal."""
    data = report.to_dict()
    n = max(report.profiles, 1)
    lines = [headline(report)]
    first, last = data["events_created"]["first"], data["events_created"]["last"]
    if first:
        lines.append(f"events created {first} .. {last}")
    lines += ["", "Sections"]
    named = report.metadata is not None
    name = (lambda entry: [entry["name"] or "?"]) if named else (lambda entry: [])
    lines += _table(
        ["section", *(["name"] if named else []), "profiles", "%"],
        [
            [s["section_id"], *name(s), f"{s['profiles']:,}", f"{100 * s['profiles'] / n:.1f}"]
            for s in data["sections"]
        ],
        {1 + named, 2 + named},
    )
    lines += [
        "",
        "Attributes and tags (always null: a tag, or never filled; wide type: the column --layout wide "
        "discovers)",
    ]
    lines += _table(
        ["section", "attribute", *(["name"] if named else []), "profiles", "%", "JSON types", "wide type"],
        [
            [
                a["section_id"],
                a["attribute_id"],
                *name(a),
                f"{a['profiles']:,}",
                f"{100 * a['profiles'] / n:.1f}",
                ", ".join(f"{t} {c:,}" for t, c in sorted(a["value_types"].items(), key=lambda tc: -tc[1])),
                a["type"] or "tag",
            ]
            for a in data["attributes"]
        ],
        {2 + named, 3 + named},
    )
    if report.events:
        lines += ["", "Events"]
        lines += _table(
            [
                "section",
                "type",
                *(["name"] if named else []),
                "events",
                "profiles",
                "duplicates",
                "no source time",
                "first created",
                "last created",
            ],
            [
                [
                    e["section_id"],
                    e["type_id"],
                    *name(e),
                    f"{e['events']:,}",
                    f"{e['profiles']:,}",
                    f"{e['duplicates']:,}",
                    f"{e['unknown_source_time']:,}",
                    e["created_at"]["first"] or "",
                    e["created_at"]["last"] or "",
                ]
                for e in data["events"]
            ],
            {2 + named, 3 + named, 4 + named, 5 + named},
        )
        fields = [
            [e["section_id"], e["type_id"], f["field"], f["type"] or "null"]
            for e in data["events"]
            for f in e.get("fields", ())
        ]
        if fields:
            lines += ["", "Event data fields (columns with --split-events)"]
            lines += _table(["section", "type", "field", "type"], fields, set())
    if report.unknown_keys:
        lines += ["", "Unknown keys (written to the extras table)"]
        lines += _table(["key", "count"], [[k, f"{c:,}"] for k, c in report.unknown_keys.items()], {1})
    return "\n".join(lines)


@click.command("inspect")
@click.argument("input", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (for scripts).")
@click.option(
    "--input-layout",
    type=click.Choice(mode_values(InputLayout)),
    default="auto",
    show_default=True,
    help='Document layout: wrapped {"profiles": ...} or bare {KEY: ...}; auto detects it.',
)
@click.option(
    "--engine",
    type=click.Choice(mode_values(EngineName)),
    default=DEFAULT_ENGINE.value,
    show_default=True,
    help="Parse engine.",
)
@click.option(
    "--metadata",
    type=click.Path(exists=True, dir_okay=False),
    metavar="FILE",
    help="Name the IDs from this file ('apsis-export metadata --save FILE').",
)
@click.option(
    "--event-fields",
    is_flag=True,
    help="Also list every field of the events' data with its type (the --split-events columns; slower).",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, writable=True),
    metavar="FILE",
    help="Also write the report as one self-contained HTML page with charts (events per day too).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@friendly_errors
def inspect_command(input, as_json, input_layout, engine, metadata, event_fields, html_path, quiet):
    """Report what the export INPUT holds: profiles, sections, attribute and tag
    coverage, event counts per type and their time range, unknown keys."""
    if html_path and not Path(html_path).resolve().parent.is_dir():
        raise click.BadParameter(f"the folder of {html_path} does not exist", param_hint="--html")
    names = Metadata.load(metadata) if metadata else None
    report = run_with_progress(
        quiet,
        lambda bar: inspect(
            input,
            engine=engine,
            input_layout=input_layout,
            names=names,
            event_fields=event_fields,
            timeline=bool(html_path),
            progress=bar,
        ),
    )
    if html_path:
        report.save_html(html_path)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    elif html_path:
        click.echo(headline(report))
        click.echo(f"HTML report: {html_path}")
    else:
        click.echo(render(report))
