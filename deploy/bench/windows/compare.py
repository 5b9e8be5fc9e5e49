"""Checks the windowed counts of the windows bench (deploy/bench.sh windows) against the truth.

Every system of the comparison (the windower, redis_timeseries_count.py, bytewax_count.py) reads
the same event log and writes its windows as JSON lines:

  {"room": 10000007, "window": "1s", "start": 1796300000000, "events": 12, "danmaku": 7, "chatters": 5}

A number a system cannot answer is null. A later line for the same (room, window, start)
replaces an earlier one (the windower publishes revisions of a window). Widths other than 1s
and 10s are ignored.

This script computes the truth from the log itself, with the windower's semantics, and says for
each system and width how far off it is. It uses the standard library only, so it runs with any
python3 3.11, outside the bench's venv too. The truth, for each room and width W in {1 s, 10 s},
over the windows aligned to the Unix epoch (start = floor(ts / W) * W, in ms) that hold at least
one event of the room:

  events    every event of the room in the window, whatever its kind
  danmaku   danmaku with lottery == false
  chatters  distinct uids among those danmaku

  python3 compare.py --log events.jsonl --out NAME=PATH [--out NAME=PATH ...]

prints one JSON line per system and width:

  {"system": NAME, "window": "1s", "windows_truth": .., "windows_reported": .., "missing": ..,
   "extra": .., "wrong_events": .., "wrong_danmaku": .., "wrong_chatters": ..,
   "events_unreported": .., "danmaku_unreported": .., "chatters_unreported": .., "right": bool,
   "example": "<first mismatch, readable>" | null}

missing: truth windows the system did not report; extra: windows it reported that hold no event
of the room; wrong_*: windows reported by both whose field differs (a null counts under
*_unreported instead). right is true when nothing is missing, extra, wrong or unreported. Exit
status: 0 once every file was compared (whatever the verdicts), 2 on a usage or input error (a
missing file, a malformed line), with a message on stderr.
"""

import argparse
import datetime
import json
import sys

WIDTHS = {"1s": 1000, "10s": 10_000}
FIELDS = ("events", "danmaku", "chatters")


class InputError(Exception):
    """A file that cannot be read or a line that does not parse; the message says where."""


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def read_json_lines(path):
    """Yields (line number, parsed object) for each non-empty line of path."""
    try:
        f = open(path, encoding="utf-8")
    except OSError as e:
        raise InputError(f"{path}: {e.strerror}") from None
    with f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as e:
                raise InputError(f"{path}:{n}: not JSON ({e})") from None
            if not isinstance(obj, dict):
                raise InputError(f"{path}:{n}: not a JSON object")
            yield n, obj


def parse_event(path, n, ev):
    """(room, ts, counted danmaku?, uid) of one log line, checked."""
    room, ts, kind = ev.get("room"), ev.get("ts"), ev.get("kind")
    if not (is_int(room) and room >= 0 and is_int(ts) and ts >= 0 and isinstance(kind, str)):
        raise InputError(f"{path}:{n}: an event needs an integer room and ts and a string kind")
    if kind != "danmaku":
        return room, ts, False, 0
    uid, lottery = ev.get("uid"), ev.get("lottery")
    if not (is_int(uid) and uid >= 0 and isinstance(lottery, bool)):
        raise InputError(f"{path}:{n}: a danmaku needs an integer uid and a boolean lottery")
    return room, ts, not lottery, uid


def truth_of(log_path):
    """{width name: {(room, start): (events, danmaku, chatters)}} computed from the log."""
    acc = {name: {} for name in WIDTHS}
    for n, ev in read_json_lines(log_path):
        room, ts, counted, uid = parse_event(log_path, n, ev)
        for name, w in WIDTHS.items():
            key = (room, ts // w * w)
            cell = acc[name].get(key)
            if cell is None:
                cell = acc[name][key] = [0, 0, set()]
            cell[0] += 1
            if counted:
                cell[1] += 1
                cell[2].add(uid)
    return {
        name: {key: (e, d, len(uids)) for key, (e, d, uids) in cells.items()}
        for name, cells in acc.items()
    }


def reported_of(path):
    """{width name: {(room, start): (events, danmaku, chatters)}} of one system's output;
    None stands for a field reported as null, and the last line for a window wins."""
    out = {name: {} for name in WIDTHS}
    for n, row in read_json_lines(path):
        width = row.get("window")
        room, start = row.get("room"), row.get("start")
        if not (isinstance(width, str) and is_int(room) and is_int(start)):
            raise InputError(f"{path}:{n}: a window needs an integer room and start and a string window")
        if width not in WIDTHS:
            continue
        values = []
        for field in FIELDS:
            v = row.get(field)
            if v is not None and not (is_int(v) and v >= 0):
                raise InputError(f"{path}:{n}: {field} must be a non-negative integer or null, got {v!r}")
            values.append(v)
        out[width][(room, start)] = tuple(values)
    return out


def describe(room, width, start):
    utc = datetime.datetime.fromtimestamp(start / 1000, datetime.timezone.utc)
    return f"room {room}, {width} window from {utc.isoformat(timespec='milliseconds')} (start {start})"


def compare_width(system, width, truth, reported):
    """The verdict line of one system for one width."""
    res = {
        "system": system,
        "window": width,
        "windows_truth": len(truth),
        "windows_reported": len(reported),
        "missing": 0,
        "extra": 0,
    }
    for field in FIELDS:
        res[f"wrong_{field}"] = 0
    for field in FIELDS:
        res[f"{field}_unreported"] = 0
    problems = []  # (key, text): the earliest in window order becomes the example
    for key in sorted(truth.keys() | reported.keys()):
        want, got = truth.get(key), reported.get(key)
        if got is None:
            res["missing"] += 1
            problems.append((key, f"missing: {describe(key[0], width, key[1])}; truth events "
                                  f"{want[0]}, danmaku {want[1]}, chatters {want[2]}"))
            continue
        if want is None:
            res["extra"] += 1
            problems.append((key, f"extra: {describe(key[0], width, key[1])} holds no event of the "
                                  f"room, reported events {got[0]}, danmaku {got[1]}, chatters {got[2]}"))
            continue
        diffs = []
        for field, w, g in zip(FIELDS, want, got):
            if g is None:
                res[f"{field}_unreported"] += 1
                diffs.append(f"{field} null (truth {w})")
            elif g != w:
                res[f"wrong_{field}"] += 1
                diffs.append(f"{field} {g}, truth {w}")
        if diffs:
            problems.append((key, f"{describe(key[0], width, key[1])}: " + "; ".join(diffs)))
    res["right"] = not problems
    res["example"] = min(problems)[1] if problems else None
    return res


def parse_args():
    p = argparse.ArgumentParser(description="compare windowed counts with the truth computed from the event log")
    p.add_argument("--log", required=True, help="the event log (JSON lines, one event each)")
    p.add_argument("--out", required=True, action="append", metavar="NAME=PATH",
                   help="a system's windows (JSON lines); repeat for each system")
    a = p.parse_args()
    outs = []
    for spec in a.out:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            p.error(f"--out wants NAME=PATH, got {spec!r}")
        outs.append((name, path))
    return a.log, outs


def main():
    log_path, outs = parse_args()
    try:
        truth = truth_of(log_path)
        for system, path in outs:
            reported = reported_of(path)
            for width in WIDTHS:
                print(json.dumps(compare_width(system, width, truth[width], reported[width])), flush=True)
    except InputError as e:
        print(f"compare: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
