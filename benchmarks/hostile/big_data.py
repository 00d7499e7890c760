"""Issue 11, row 5: events whose `data` holds about 20 KB each, at several input sizes. Batches
and row groups bounded by bytes as well as rows keep the peak RSS flat between them.

    python benchmarks/hostile/big_data.py [--sizes 100,400] [--to parquet] [--pure] [--python PY]
"""

from _measure import arguments, cached, convert, show
from inputs import big_data_events

args = arguments(
    __doc__, sizes=(str, "100,400", "input sizes in MB"), data_kb=(int, 20, "KB of data per event")
)
for mb in map(int, args.sizes.split(",")):
    path = cached(
        args,
        f"bigdata-{args.data_kb}kb-{mb}mb.json",
        lambda f, mb=mb: big_data_events(f, mb * 1_000_000, args.data_kb * 1000),
    )
    show(f"events with {args.data_kb} KB data", convert(args, path), path.stat().st_size)
