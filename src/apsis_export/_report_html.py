"""``inspect --html``: the inspect report as one self-contained HTML page.

Built from :meth:`InspectReport.to_dict` (so every number equals ``inspect --json``'s):
inline CSS, charts drawn here as inline SVG, no script and no request at view time (a
Content-Security-Policy forbids both). Light and dark follow the reader's setting; each
chart has a text alternative (``role="img"`` with a title and a description) and its
numbers in a table. Everything taken from the export (IDs, names, keys) is untrusted and
escaped. The page stays small whatever the export's size: charts show the most common
entries and tables are capped, each saying so (``inspect --json`` has everything).
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

#: Bars per coverage chart, event types drawn on the timeline, time buckets per timeline
#: row, and rows per table: what keeps the page small for any export.
MAX_BARS = 30
MAX_TIMELINE_TYPES = 12
MAX_TIMELINE_BUCKETS = 180
MAX_TABLE_ROWS = 1000

_EPOCH = date(1970, 1, 1)
_FIRST_DAY, _LAST_DAY = (date.min - _EPOCH).days, (date.max - _EPOCH).days
_BAR_WIDTH = 330  # px of the longest bar in a bar chart, labels above the bars

_CSS = """
:root{color-scheme:light dark;--bg:#fff;--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--card:#f6f8fa;
--bar:#1f6feb;--dup:#c2410c;--src:#7c3aed;--track:#e6ebf1}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9da7b3;--line:#30363d;
--card:#161b22;--bar:#58a6ff;--dup:#fb923c;--src:#c4a7ff;--track:#21262d}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main,header,footer{max-width:72rem;margin:0 auto;padding:0 1rem}
header{padding-top:1rem}
h1{font-size:1.5rem;margin:.5rem 0;overflow-wrap:anywhere}
h2{font-size:1.2rem;margin:2rem 0 .5rem;border-bottom:1px solid var(--line);padding-bottom:.25rem}
h3{font-size:1rem;margin:1.25rem 0 .25rem;overflow-wrap:anywhere}
p{margin:.4rem 0}
.muted{color:var(--muted)}
.note{color:var(--muted);font-size:.875rem}
code{font:.875em ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;overflow-wrap:anywhere}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(10rem,1fr));gap:.5rem;margin:.5rem 0;padding:0}
.cards div{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:.5rem .75rem}
.cards dt{font-size:.8rem;color:var(--muted)}
.cards dd{margin:0;font-size:1.3rem;font-weight:600;font-variant-numeric:tabular-nums;overflow-wrap:anywhere}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(20rem,100%),1fr));gap:0 2rem}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:.875rem;margin:.5rem 0}
th,td{padding:.25rem .6rem;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
details{margin:.5rem 0}
summary{cursor:pointer;color:var(--muted);font-size:.875rem}
svg.bars{display:block;max-width:100%;height:auto}
svg text{fill:var(--fg);font:12px system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
svg text.pct{fill:var(--muted);font-size:11px}
.bar{fill:var(--bar)}.dup{fill:var(--dup)}.track{fill:var(--track)}
.src{fill:none;stroke:var(--src);stroke-width:2px}
.legend{display:flex;flex-wrap:wrap;gap:.25rem 1rem;font-size:.875rem;margin:.25rem 0}
.key{display:inline-block;width:.9rem;height:.9rem;border-radius:2px;vertical-align:-.1rem;margin-right:.3rem}
.key.bar{background:var(--bar)}.key.dup{background:var(--dup)}.key.src{background:var(--src);height:.2rem;vertical-align:.2rem}
.rows{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(24rem,100%),1fr));gap:0 1.5rem}
.row{margin:.4rem 0 .6rem;min-width:0}.row h3{margin:0 0 .2rem;font-size:.95rem}
.row svg{display:block;width:100%;height:48px;background:var(--card);border:1px solid var(--line);border-radius:4px}
.axis{display:flex;justify-content:space-between;font-size:.75rem;color:var(--muted);font-variant-numeric:tabular-nums}
"""


def esc(value: Any) -> str:
    """Any value as HTML text, safe in element content and in quoted attributes."""
    return html.escape(str(value), quote=True)


def _n(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def _count(n: int, noun: str) -> str:
    """``1 duplicate``, ``2 duplicates``."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "0.0%"


def _size(n: int | None) -> str:
    if n is None:
        return "unknown (a stream)"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit} ({n:,} bytes)"
    return f"{n:,} bytes"


def _label(entry: dict[str, Any], id_key: str) -> str:
    """An entry's ID, with its name first when the metadata named it."""
    name = entry.get("name")
    return f"{name} ({entry[id_key]})" if name else str(entry[id_key])


def _short(text: str, limit: int = 52) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _table(
    table_id: str,
    caption: str,
    headers: list[str],
    rows: Iterable[list[str]],
    numeric: set[int],
    total: int | None = None,
) -> str:
    """A table; ``rows`` are already escaped cell contents, at most MAX_TABLE_ROWS are shown
    (``total``: how many there are, to say how many were left out)."""
    shown: list[str] = []
    for row in rows:
        if len(shown) == MAX_TABLE_ROWS:
            break
        shown.append(
            "<tr>"
            + "".join(
                f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(row)
            )
            + "</tr>"
        )
    head = "".join(
        f'<th scope="col" class="n">{esc(h)}</th>' if i in numeric else f'<th scope="col">{esc(h)}</th>'
        for i, h in enumerate(headers)
    )
    more = ""
    if total is not None and total > len(shown):
        more = (
            f'<p class="note">Showing the first {len(shown):,} of {total:,} rows; '
            f"<code>apsis-export inspect --json</code> lists them all.</p>"
        )
    return (
        f'<div class="scroll"><table id="{table_id}"><caption class="note">{esc(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(shown)}</tbody></table></div>{more}"
    )


class _Ids:
    """Element IDs for ARIA references: generated, never taken from the export."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return f"c{self.n}"


def _bar_chart(ids: _Ids, title: str, bars: list[tuple[str, int]], whole: int, desc: str) -> str:
    """Horizontal bars, sorted by the caller, each ``(label, count)`` as a share of ``whole``."""
    row = 26
    height = row * len(bars) + 2
    tid, did = ids(), ids()
    parts = [
        f'<svg class="bars" role="img" aria-labelledby="{tid} {did}" width="{_BAR_WIDTH + 60}" height="{height}" '
        f'viewBox="0 0 {_BAR_WIDTH + 60} {height}" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{tid}">{esc(title)}</title><desc id="{did}">{esc(desc)}</desc>'
    ]
    for i, (label, count) in enumerate(bars):
        y = i * row
        width = _BAR_WIDTH * count / whole if whole else 0
        parts.append(
            f"<g><title>{esc(label)}: {count:,} ({_pct(count, whole)})</title>"
            f'<text x="0" y="{y + 11}">{esc(_short(label))}</text>'
            f'<rect class="track" x="0" y="{y + 15}" width="{_BAR_WIDTH}" height="8" rx="2"/>'
            f'<rect class="bar" x="0" y="{y + 15}" width="{width:.1f}" height="8" rx="2"/>'
            f'<text class="pct" x="{_BAR_WIDTH + 4}" y="{y + 23}">{_pct(count, whole)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _coverage_chart(ids: _Ids, what: str, section: str, entries: list[dict[str, Any]], profiles: int) -> str:
    """The coverage of one section's attributes (or tags): the most common MAX_BARS, sorted."""
    if not entries:
        return f'<div><h4>{esc(what)}</h4><p class="note">None in this section.</p></div>'
    ranked = sorted(entries, key=lambda a: (-a["profiles"], a["attribute_id"]))
    bars = [(_label(a, "attribute_id"), a["profiles"]) for a in ranked[:MAX_BARS]]
    shown = (
        f"the {len(bars)} most common of {len(entries):,}"
        if len(entries) > len(bars)
        else f"all {len(entries):,}"
    )
    top, low = bars[0], bars[-1]
    desc = (
        f"Share of all {profiles:,} profiles that have each of {what.lower()} in section {section}, {shown}, "
        f"sorted: highest {top[0]} {_pct(top[1], profiles)}, lowest shown {low[0]} {_pct(low[1], profiles)}. "
        f"Every value is in the attributes table."
    )
    return (
        f'<div><h4>{esc(what)} <span class="note">({esc(shown)})</span></h4>'
        f"{_bar_chart(ids, f'{what} coverage in section {section}', bars, profiles, desc)}</div>"
    )


def _types_text(attribute: dict[str, Any]) -> str:
    """The JSON types of an attribute's values with their counts, most common first."""
    return ", ".join(f"{t} {c:,}" for t, c in sorted(attribute["value_types"].items(), key=lambda tc: -tc[1]))


def _day(text: str) -> int:
    """Days since the epoch of a YYYY-MM-DD bucket start."""
    return (date.fromisoformat(text) - _EPOCH).days


def _day_text(days: int) -> str:
    """YYYY-MM-DD of a day since the epoch, within the years 1-9999 (a bar may start before
    the first day or end after the last)."""
    return (_EPOCH + timedelta(days=min(max(days, _FIRST_DAY), _LAST_DAY))).isoformat()


def _display_width(first: int, last: int, stored: int) -> int:
    """Days per bar on the timeline: the smallest of a day, a week, 2, 4, 13, 26, 52 weeks and
    doublings on (multiples of the buckets counted) that draws at most MAX_TIMELINE_BUCKETS bars."""
    candidates = [1, 7, 14, 28, 91, 182, 364] if stored == 1 else [stored]
    while True:
        for width in candidates:
            if width % stored == 0 and last // width - first // width + 1 <= MAX_TIMELINE_BUCKETS:
                return width
        candidates = [candidates[-1] * 2]


def _unit(width: int) -> str:
    if width == 1:
        return "day"
    if width % 7 == 0:
        return "week" if width == 7 else f"{width // 7} weeks"
    return f"{width} days"


def _rebucket(pairs: list[list], width: int) -> dict[int, int]:
    """Counts per stored bucket (``[[YYYY-MM-DD, n], ...]``) as counts per bar of ``width`` days."""
    bars: dict[int, int] = {}
    for day_text, count in pairs:
        bar = _day(day_text) // width
        bars[bar] = bars.get(bar, 0) + count
    return bars


def _timeline(ids: _Ids, data: dict[str, Any]) -> str:
    """Events per type and time bucket: bars by created_at with the duplicates among them
    highlighted, a line by sourceEventTime; one row per event type, the busiest first."""
    timeline = data.get("timeline")
    if timeline is None:
        return '<p class="note">No timeline: the report was made without <code>timeline=True</code>.</p>'
    by_key = {(e["section_id"], e["type_id"]): e for e in data["events"]}
    rows = sorted(timeline["events"], key=lambda t: -by_key[(t["section_id"], t["type_id"])]["events"])
    drawn = [t for t in rows if t["created_at"] or t["source_event_time"]][:MAX_TIMELINE_TYPES]
    if not drawn:
        return '<p class="note">No event has a time.</p>'
    days = [_day(d) for t in drawn for series in ("created_at", "source_event_time") for d, _ in t[series]]
    stored = timeline["days_per_bucket"]
    first, last = min(days), max(days) + stored - 1
    width = _display_width(first, last, stored)
    unit = _unit(width)
    lo, hi = first // width, last // width
    nbars = hi - lo + 1
    out = [
        f"<p>Events per {esc(unit)} from {_day_text(lo * width)} to {_day_text(hi * width + width - 1)} (UTC), "
        f"one row per event type, each on its own scale (its busiest {esc(unit)} fills the row).</p>",
        '<div class="legend"><span><span class="key bar"></span>by created_at</span>'
        '<span><span class="key dup"></span>duplicates (correlationId seen before in the profile)</span>'
        '<span><span class="key src"></span>by sourceEventTime, where known</span></div>',
    ]
    if len(rows) > len(drawn):
        out.append(
            f'<p class="note">The {len(drawn)} event types with most events are drawn, of {len(rows):,}; '
            f"the events table lists all.</p>"
        )
    out.append('<div class="rows">')
    for t in drawn:
        event = by_key[(t["section_id"], t["type_id"])]
        created, dups, source = (
            _rebucket(t[s], width) for s in ("created_at", "duplicates", "source_event_time")
        )
        peak = max([*created.values(), *source.values(), 1])
        path = "".join(
            f"M{b - lo + 0.1} 100V{100 - 100 * n / peak:.2f}h0.8V100z" for b, n in sorted(created.items())
        )
        dup_path = "".join(
            f"M{b - lo + 0.1} 100V{100 - 100 * n / peak:.2f}h0.8V100z" for b, n in sorted(dups.items())
        )
        line = (
            " ".join(f"{b - lo + 0.5},{100 - 100 * source.get(b, 0) / peak:.2f}" for b in range(lo, hi + 1))
            if source
            else ""
        )
        label = _label(event, "type_id")
        busiest = max(created.items(), key=lambda bn: bn[1], default=None)
        dup_bars = sum(1 for n in dups.values() if n)
        desc = (
            f"{_count(event['events'], 'event')} of type {label} in section {event['section_id']}"
            + (
                f"; busiest {unit} from {_day_text(busiest[0] * width)}: {busiest[1]:,} events by created_at"
                if busiest
                else "; none with a created_at"
            )
            + f"; {_count(event['duplicates'], 'duplicate')}"
            + (f" in {_count(dup_bars, unit)}" if dup_bars else "")
            + f"; {sum(source.values()):,} with a sourceEventTime, {event['unknown_source_time']:,} without."
        )
        tid, did = ids(), ids()
        svg = (
            f'<svg role="img" aria-labelledby="{tid} {did}" viewBox="0 0 {nbars} 100" preserveAspectRatio="none" '
            f'xmlns="http://www.w3.org/2000/svg"><title id="{tid}">Events of type {esc(label)} per {esc(unit)}</title>'
            f'<desc id="{did}">{esc(desc)}</desc><path class="bar" d="{path}"/>'
            + (f'<path class="dup" d="{dup_path}"/>' if dup_path else "")
            + (f'<polyline class="src" vector-effect="non-scaling-stroke" points="{line}"/>' if line else "")
            + "</svg>"
        )
        table_rows = []
        for b in sorted(set(created) | set(source)):
            table_rows.append(
                [_day_text(b * width), _n(created.get(b, 0)), _n(dups.get(b, 0)), _n(source.get(b, 0))]
            )
        out.append(
            f'<div class="row"><h3>{esc(label)} <span class="note">in {esc(event["section_id"])}: '
            f"{_count(event['events'], 'event')}, {_count(event['duplicates'], 'duplicate')}, peak {peak:,} per {esc(unit)}</span></h3>"
            f'{svg}<div class="axis" aria-hidden="true"><span>{_day_text(lo * width)}</span>'
            f"<span>{_day_text((lo + hi) // 2 * width)}</span><span>{_day_text(hi * width)}</span></div>"
            f"<details><summary>Data table</summary>"
            + _table(
                ids(),
                f"Events of type {label} per {unit}",
                [f"{unit} from", "by created_at", "duplicates", "by sourceEventTime"],
                table_rows,
                {1, 2, 3},
                len(table_rows),
            )
            + "</details></div>"
        )
    out.append("</div>")
    return "".join(out)


def render_html(data: dict[str, Any]) -> str:
    """The page for one report's :meth:`~InspectReport.to_dict`."""
    ids = _Ids()
    profiles = data["profiles"]
    attributes = data["attributes"]
    named = any("name" in a for a in attributes) or any("name" in s for s in data["sections"])

    def is_tag(a: dict[str, Any]) -> bool:
        return a["is_tag"] if a.get("is_tag") is not None else a["always_null"]

    tags = [a for a in attributes if is_tag(a)]
    duplicates = sum(e["duplicates"] for e in data["events"])
    created = data["events_created"]
    source_name = data["source"].replace("\\", "/").rsplit("/", 1)[-1]
    mb_s = data["bytes_json"] / 1e6 / data["seconds"] if data["seconds"] else 0.0

    cards = [
        ("Profiles", "profiles", profiles),
        ("Without attributes or events", "empty_profiles", data["empty_profiles"]),
        ("Attribute rows", "attribute_rows", data["attribute_rows"]),
        ("Events", "event_rows", data["event_rows"]),
        ("Duplicate events", "duplicates", duplicates),
        ("Unknown keys", "unknown_key_rows", data["unknown_key_rows"]),
        ("Sections", "sections", len(data["sections"])),
        ("Attributes", "attributes", len(attributes) - len(tags)),
        ("Tags" if named else "Tags or always null", "tags", len(tags)),
        ("Event types", "event_types", len(data["events"])),
    ]
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="color-scheme" content="light dark">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        f"<title>{esc(source_name)}: apsis-export inspect</title><style>{_CSS}</style></head><body>",
        f"<header><h1>What is in <code>{esc(source_name)}</code></h1>"
        f'<p class="muted">{esc(data["source"])}: {esc(_size(data.get("bytes_file")))}, '
        + (f"gzip of {esc(_size(data['bytes_json']))} of JSON; " if data.get("gzip") else "not compressed; ")
        + f'inspected in <span data-metric="seconds">{data["seconds"]:.2f}</span> s ({mb_s:,.0f} MB/s).</p></header><main>',
        '<section aria-labelledby="h-summary"><h2 id="h-summary">Summary</h2><dl class="cards">',
        *(
            f'<div><dt>{esc(label)}</dt><dd data-metric="{key}">{value:,}</dd></div>'
            for label, key, value in cards
        ),
        "</dl>",
        f"<p>Events created from <b>{esc(created['first'])}</b> to <b>{esc(created['last'])}</b>.</p>"
        if created["first"]
        else "<p>No event has a created_at.</p>",
        "</section>",
    ]

    out.append('<section aria-labelledby="h-timeline"><h2 id="h-timeline">Events over time</h2>')
    out.append(_timeline(ids, data) if data["events"] else '<p class="note">No events.</p>')
    out.append("</section>")

    sections = sorted(data["sections"], key=lambda s: (-s["profiles"], s["section_id"]))
    out.append('<section aria-labelledby="h-sections"><h2 id="h-sections">Sections</h2>')
    if sections:
        bars = [(_label(s, "section_id"), s["profiles"]) for s in sections[:MAX_BARS]]
        out.append(
            _bar_chart(
                ids,
                "Profiles per section",
                bars,
                profiles,
                f"Share of all {profiles:,} profiles that have each section: "
                + "; ".join(f"{label} {_pct(n, profiles)}" for label, n in bars[:10])
                + ".",
            )
        )
    out.append(
        _table(
            "sections-table",
            "Profiles per section",
            ["section", *(["name"] if named else []), "profiles", "%"],
            (
                [
                    esc(s["section_id"]),
                    *([esc(s.get("name") or "?")] if named else []),
                    _n(s["profiles"]),
                    _pct(s["profiles"], profiles),
                ]
                for s in sections
            ),
            {1 + named, 2 + named},
            len(sections),
        )
    )
    out.append("</section>")

    out.append(
        '<section aria-labelledby="h-coverage"><h2 id="h-coverage">Attribute and tag coverage</h2>'
        "<p>The share of all profiles that have each attribute and tag, most common first"
        + (
            ""
            if named
            else "; without metadata a tag cannot be told from an attribute nobody filled: "
            "both are always null (name them with <code>--metadata FILE</code>)"
        )
        + ".</p>"
    )
    for section in sections:
        mine = [a for a in attributes if a["section_id"] == section["section_id"]]
        out.append(
            f'<h3>{esc(_label(section, "section_id"))}</h3><div class="grid">'
            + _coverage_chart(
                ids, "Attributes", section["section_id"], [a for a in mine if not is_tag(a)], profiles
            )
            + _coverage_chart(
                ids,
                "Tags" if named else "Tags or always null",
                section["section_id"],
                [a for a in mine if is_tag(a)],
                profiles,
            )
            + "</div>"
        )
    out.append("</section>")

    wide: dict[str, int] = {}
    for a in attributes:
        wide[a["type"] or "tag (boolean)"] = wide.get(a["type"] or "tag (boolean)", 0) + 1
    type_bars = sorted(wide.items(), key=lambda tn: (-tn[1], tn[0]))
    ranked = sorted(attributes, key=lambda a: (a["section_id"], -a["profiles"], a["attribute_id"]))
    out.append(
        '<section aria-labelledby="h-types"><h2 id="h-types">Value types and wide columns</h2>'
        "<p>The JSON types each attribute's values have, and the column type <code>--layout wide</code> "
        "discovers for it (a tag, or an attribute always null, becomes a boolean column).</p>"
    )
    if type_bars:
        out.append(
            _bar_chart(
                ids,
                "Wide columns per type",
                type_bars,
                len(attributes),
                "Columns of the wide layout per type: " + "; ".join(f"{t} {n:,}" for t, n in type_bars) + ".",
            )
        )
    mixed = [a for a in ranked if len(a["value_types"]) > 1]
    out.append("<h3>Attributes with values of more than one JSON type</h3>")
    out.append(
        _table(
            "mixed-table",
            "Attributes with mixed value types",
            ["section", "attribute", "JSON types", "wide type"],
            (
                [
                    esc(a["section_id"]),
                    esc(_label(a, "attribute_id")),
                    esc(_types_text(a)),
                    esc(a["type"] or "tag"),
                ]
                for a in mixed
            ),
            set(),
            len(mixed),
        )
        if mixed
        else "<p>None: the values of each attribute have one JSON type.</p>"
    )
    out.append(
        f"<details><summary>Every attribute and tag ({len(ranked):,}): coverage, JSON types, wide type</summary>"
    )
    out.append(
        _table(
            "attributes-table",
            "Attributes and tags",
            [
                "section",
                "attribute",
                *(["name"] if named else []),
                "profiles",
                "%",
                "JSON types",
                "wide type",
            ],
            (
                [
                    esc(a["section_id"]),
                    esc(a["attribute_id"]),
                    *([esc(a.get("name") or "?")] if named else []),
                    _n(a["profiles"]),
                    _pct(a["profiles"], profiles),
                    esc(_types_text(a)),
                    esc(a["type"] or "tag"),
                ]
                for a in ranked
            ),
            {2 + named, 3 + named},
            len(ranked),
        )
    )
    out.append("</details>")
    out.append("</section>")

    events = sorted(data["events"], key=lambda e: (-e["events"], e["section_id"], e["type_id"]))
    out.append('<section aria-labelledby="h-events"><h2 id="h-events">Event types</h2>')
    out.append(
        _table(
            "events-table",
            "Events per type",
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
            (
                [
                    esc(e["section_id"]),
                    esc(e["type_id"]),
                    *([esc(e.get("name") or "?")] if named else []),
                    _n(e["events"]),
                    _n(e["profiles"]),
                    _n(e["duplicates"]),
                    _n(e["unknown_source_time"]),
                    esc(e["created_at"]["first"] or ""),
                    esc(e["created_at"]["last"] or ""),
                ]
                for e in events
            ),
            {2 + named, 3 + named, 4 + named, 5 + named},
            len(events),
        )
    )
    fields = [
        [esc(e["section_id"]), esc(e["type_id"]), esc(f["field"]), esc(f["type"] or "null")]
        for e in events
        for f in e.get("fields", ())
    ]
    if fields:
        out.append("<h3>Event data fields (columns with <code>--split-events</code>)</h3>")
        out.append(
            _table(
                "fields-table",
                "Event data fields",
                ["section", "type", "field", "type"],
                fields,
                set(),
                len(fields),
            )
        )
    out.append("</section>")

    unknown = sorted(data["unknown_keys"], key=lambda k: (-k["count"], k["key"]))
    out.append('<section aria-labelledby="h-unknown"><h2 id="h-unknown">Unknown keys</h2>')
    out.append(
        _table(
            "unknown-table",
            "Keys the format does not name (written to the extras table)",
            ["key", "count"],
            ([f"<code>{esc(k['key'])}</code>", _n(k["count"])] for k in unknown),
            {1},
            len(unknown),
        )
        if unknown
        else "<p>None: every key is one the format documentation names.</p>"
    )
    out.append("</section></main>")
    out.append(
        '<footer><p class="note">Made by <code>apsis-export inspect --html</code>. Charts show at most '
        f"{MAX_BARS} bars, {MAX_TIMELINE_TYPES} event types and {MAX_TIMELINE_BUCKETS} time buckets each; "
        f"tables at most {MAX_TABLE_ROWS:,} rows; <code>--json</code> has everything.</p></footer>"
    )
    out.append("</body></html>\n")
    return "\n".join(out)
