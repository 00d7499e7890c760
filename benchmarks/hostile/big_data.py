"""Issue 11, row 5: events whose `data` holds about 20 KB each, at two input sizes. Batches
and row groups bounded by bytes as well as rows keep the peak RSS flat between the two.

    python benchmarks/hostile/big_data.py [--sizes 100,400] [--to parquet] [--pure]
"""

import json
import random

from _measure import arguments, cached, convert, show

args = arguments(__doc__, sizes=(str, "100,400", "input sizes in MB"), data_kb=(int, 20, "KB of data per event"))
rng = random.Random(0)
# A few distinct data objects (compressible by neither repetition nor a dictionary of one value).
DATA = [json.dumps({"text": "".join(rng.choice("abcdefghij klmnop") for _ in range(args.data_kb * 1000)),
                    "n": i}).encode() for i in range(64)]


def export(mb):
    def write(f):
        f.write(b'{"profiles":{')
        written, profile = 0, 0
        while written < mb * 1_000_000:
            events = b",".join(b'{"typeId":"t","correlationId":"c%d","sourceEventTime":1700000000000,'
                               b'"createdAt":1700000000000,"data":%s}' % (i, DATA[(profile + i) % 64])
                               for i in range(10))
            member = b'%s"p%d":{"sections":{"s":{"events":[%s]}}}' % (b"," if profile else b"", profile, events)
            f.write(member)
            written += len(member)
            profile += 1
        f.write(b"}}")
    return write


for mb in map(int, args.sizes.split(",")):
    path = cached(args, f"bigdata-{args.data_kb}kb-{mb}mb.json", export(mb))
    show(f"events with {args.data_kb} KB data", convert(args, path), path.stat().st_size)
