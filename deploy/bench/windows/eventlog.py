"""What the two counting drivers (redis_timeseries_count.py, bytewax_count.py) share: how a
line of the event log is read and how their command lines are checked. compare.py, the referee,
reads the log with its own code on purpose, so that a misreading here cannot pass both sides.

The log's format: one JSON object per line, {"room": u64, "ts": unix ms, "kind": str,
"uid": u64, "lottery": bool}; a danmaku counts for `danmaku` and `chatters` unless it is a
lottery danmaku.
"""

import json
import os


def event_fields(line):
    """(room, ts in ms, counted danmaku?, uid) of one log line; ValueError, KeyError or
    TypeError when the line is not an event."""
    ev = json.loads(line)
    room, ts, kind = ev["room"], ev["ts"], ev["kind"]
    if not (isinstance(room, int) and isinstance(ts, int) and ts >= 0):
        raise TypeError("room and ts must be integers")
    counted = kind == "danmaku" and not ev["lottery"]
    return room, ts, counted, ev["uid"] if counted else 0


def check_paths(parser, args, prog):
    """Exits 2 with a one-line message unless --log is a file and --out can be written: fail
    now, not after the whole run."""
    if not os.path.isfile(args.log):
        parser.exit(2, f"{prog}: no such file: {args.log}\n")
    try:
        open(args.out, "w").close()
    except OSError as e:
        parser.exit(2, f"{prog}: cannot write {args.out}: {e.strerror}\n")
