"""Windowed counting with bytewax, the stream processor peer of the windows bench
(deploy/bench.sh windows; bytewax 0.21.1, pinned in requirements-windows.txt beside this file,
installed by deploy/install-tools.sh --bench into .tools/peers/windows-venv; run with that venv's
python).

Why: the bench asks what the windower's per-room tumbling windows cost next to a general-purpose
dataflow engine that does the same with its own operators, and whether both count right. This
script is the plainest bytewax dataflow for the job: read the event log (FileSource), key by room,
and for each width (1 s and 10 s, aligned to the Unix epoch) an event-time TumblingWindower under
an EventClock on the event's `ts`, with a fold_window that counts events and non-lottery danmaku
and collects the distinct uids of the latter. Each closed window's result is joined with its
window metadata (for the start) and written as one JSON line:

  {"room": 10000007, "window": "1s", "start": 1796300000000, "events": 12, "danmaku": 7, "chatters": 5}

On stdout, at the end, one JSON object:

  {"system": "bytewax", "events": N, "windows": M, "late": 0, "cpu_s": X, "wall_s": Y}

(cpu_s: user+system CPU of this process, getrusage; wall_s: from the script's start.) Logs and
errors go to stderr; a missing log or a malformed line in it exits 2.

  python bytewax_count.py --log events.jsonl --out bytewax.jsonl

The clock: EventClock's watermark is "largest timestamp seen, minus wait_for_system_duration,
plus the system time elapsed since that item was seen". For a replay that runs much faster (or
slower) than event time, the system-time term makes the watermark meaningless: events with the
same or a slightly larger ts than the room's previous one, arriving a few milliseconds of system
time later, would fall behind the watermark and be dropped as late. The log is ordered by ts, so
the clock here is frozen (now_getter returns a constant): the watermark of a room is then exactly
the largest ts seen in it, a window closes when the room's first event past its end arrives, and
no event of an ordered log is late. to_system_utc returns None, so the runtime never wakes up on
system time to close windows; new items and the end of input do that. At the end of input
EventClock sets the watermark to the maximum, which closes (flushes) every window still open.
Late items are counted anyway (`late`, expected 0): they would be missing from the output.
"""

import time

_T0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402

import bytewax.operators as op  # noqa: E402
from bytewax.connectors.files import FileSource  # noqa: E402
from bytewax.dataflow import Dataflow  # noqa: E402
from bytewax.operators.windowing import EventClock, TumblingWindower, fold_window  # noqa: E402
from bytewax.outputs import DynamicSink, StatelessSinkPartition  # noqa: E402
from bytewax.run import cli_main  # noqa: E402

from eventlog import check_paths, event_fields  # noqa: E402

SYSTEM = "bytewax"
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
WIDTHS = {"1s": 1000, "10s": 10_000}
ONE_MS = timedelta(milliseconds=1)

# Counters of this one-worker process (read after the run).
STATS = {"events": 0, "windows": 0, "late": 0, "error": None}


def parse_event(line):
    """One log line -> (room key, event time, counted danmaku?, uid), or None for a blank line
    or a malformed one (eventlog.event_fields reads it). The first malformed line is kept in STATS["error"], and main() fails the
    run with it at the end: raising here would make bytewax's runtime panic, with a Rust stack
    trace on stderr."""
    if not line.strip():
        return None
    STATS["events"] += 1
    try:
        room, ts, counted, uid = event_fields(line)
        event_time = EPOCH + timedelta(milliseconds=ts)
    except (ValueError, KeyError, TypeError, OverflowError) as e:
        if STATS["error"] is None:
            STATS["error"] = f"event {STATS['events']} of the log is malformed ({e!r}): {line[:120]}"
        return None
    return (str(room), event_time, counted, uid)


def new_acc():
    # [events, danmaku (non-lottery), distinct uids of those danmaku]
    return [0, 0, set()]


def fold(acc, ev):
    acc[0] += 1
    if ev[2]:
        acc[1] += 1
        acc[2].add(ev[3])
    return acc


def merge(a, b):
    # Tumbling windows never merge; fold_window wants a merger all the same.
    a[0] += b[0]
    a[1] += b[1]
    a[2] |= b[2]
    return a


def frozen_now():
    return EPOCH


def never_wake(_close_time):
    return None


def count_late(_step_id, _item):
    STATS["late"] += 1


def add_width(keyed, name, width_ms):
    """The windows of one width, as ("out", JSON line) items."""
    clock = EventClock(
        ts_getter=lambda ev: ev[1],
        wait_for_system_duration=timedelta(0),
        now_getter=frozen_now,
        to_system_utc=never_wake,
    )
    windower = TumblingWindower(length=timedelta(milliseconds=width_ms), align_to=EPOCH)
    wo = fold_window(f"fold_{name}", keyed, clock, windower, new_acc, fold, merge)
    op.inspect(f"late_{name}", wo.late, count_late)
    # Window ids are per key; the metadata stream tells each window's open time. Join the two
    # on (room, window id).
    down = op.map(f"down_{name}", wo.down, lambda kv: (f"{kv[0]}/{kv[1][0]}", (kv[0], kv[1][1])))
    meta = op.map(f"meta_{name}", wo.meta, lambda kv: (f"{kv[0]}/{kv[1][0]}", kv[1][1].open_time))
    joined = op.join(f"join_{name}", down, meta)

    def row(kv):
        (room, (events, danmaku, uids)), open_time = kv[1]
        STATS["windows"] += 1
        return ("out", json.dumps({
            "room": int(room), "window": name, "start": (open_time - EPOCH) // ONE_MS,
            "events": events, "danmaku": danmaku, "chatters": len(uids),
        }))

    return op.map(f"row_{name}", joined, row)


class _LinesPartition(StatelessSinkPartition):
    def __init__(self, path):
        self._f = open(path, "w", encoding="utf-8")

    def write_batch(self, items):
        self._f.writelines(f"{line}\n" for line in items)

    def close(self):
        self._f.close()


class LinesSink(DynamicSink):
    """Writes each item, a string, as a line of one file. Unlike bytewax's FileSink it does not
    fsync after every batch: the other systems of the bench write their output buffered too."""

    def __init__(self, path):
        self._path = path

    def build(self, step_id, worker_index, worker_count):
        if worker_count != 1:
            raise RuntimeError("LinesSink writes one file: run one worker")
        return _LinesPartition(self._path)


def build_flow(log_path, out_path):
    flow = Dataflow("bilipulse_windows")
    lines = op.input("log", flow, FileSource(log_path))
    events = op.filter_map("parse", lines, parse_event)
    keyed = op.key_on("room", events, lambda ev: ev[0])
    rows = [add_width(keyed, name, ms) for name, ms in WIDTHS.items()]
    op.output("out", op.key_rm("unkey", op.merge("rows", *rows)), LinesSink(out_path))
    return flow


def parse_args():
    p = argparse.ArgumentParser(description="count events, danmaku and chatters per room in 1s and 10s windows with bytewax")
    p.add_argument("--log", required=True, help="the event log (JSON lines, ordered by ts)")
    p.add_argument("--out", required=True, help="where to write the windows (JSON lines)")
    a = p.parse_args()
    check_paths(p, a, "bytewax_count")
    return a


def main():
    a = parse_args()
    flow = build_flow(a.log, a.out)
    # One process, one worker. `python -m bytewax.run module:flow` is bytewax's documented way
    # to run a dataflow (bytewax.testing.run_main is documented as for unit tests only); without
    # -w/-i/-a or recovery it calls exactly this, bytewax.run.cli_main with one worker and a
    # 10 s epoch. Calling it here keeps this script's own flags instead of passing the paths
    # through a "module:factory('...')" import string.
    try:
        cli_main(flow, workers_per_process=1, epoch_interval=timedelta(seconds=10))
    except Exception as e:  # bytewax wraps errors raised in a step; show the cause, not the stack
        cause = e
        while cause.__cause__ is not None or cause.__context__ is not None:
            cause = cause.__cause__ or cause.__context__
        print(f"bytewax_count: {cause}", file=sys.stderr)
        return 2
    if STATS["error"] is not None:
        print(f"bytewax_count: {a.log}: {STATS['error']}", file=sys.stderr)
        return 2
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "system": SYSTEM,
        "events": STATS["events"],
        "windows": STATS["windows"],
        "late": STATS["late"],
        "cpu_s": round(ru.ru_utime + ru.ru_stime, 3),
        "wall_s": round(time.perf_counter() - _T0, 3),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
