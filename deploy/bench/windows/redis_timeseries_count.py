"""Windowed counting the way bilipulse's prototype did it, for the windows bench (deploy/bench.sh
windows): Redis with the redis_timeseries library (redis-timeseries 0.1.9 and the redis client,
pinned in requirements-windows.txt beside this file, installed by deploy/install-tools.sh --bench
into .tools/peers/windows-venv; run with that venv's python) over a real redis-server.

Why: before the windower, a Python asyncio crawler per room wrote every event into Redis through
redis_timeseries (1-second granularity, one-day TTL), and a loop counted, every 2 s, the chatter
keys of the last 10 seconds ("active" chat) and read the latest viewer figure. The bench asks
what that design costs per event and whether its numbers are right. This script replays the
event log through the same library calls:

* per event: TimeSeries.record_hit on the room's event counter "ROOM:events"; per danmaku with
  lottery == false also on the room's danmaku counter "ROOM:danmaku" and on the chatter's key
  "ROOM:UID". The timestamp passed is the EVENT time (the log's ts, in seconds). The prototype
  passed nothing, i.e. the arrival time; in a replay many times faster than real time that would
  pile the whole log into a few buckets and make every figure meaningless.
* every 2 s of event time (when the log's ts passes an even second T), for every room seen so
  far: scan_keys('1second', 10, search="ROOM:*", timestamp=T-1), the prototype's "active
  chatters in the last 10 s" (the counter keys filtered out). The buckets it names are T-10 ..
  T-1, i.e. the window [T-10 s, T). At the end of the log the ticks go on until the end of the
  last 10 s window, as the prototype's loop would have. There is no viewer figure in the log, so
  that read is left out.
* output, one JSON line per (room, window) with at least one event:
  10s: at the ticks T that are multiples of 10 s, the window starting at T-10 s: events and
       danmaku from get_total of the two counters over the same 10 buckets, chatters = the
       number of keys scan_keys returned.
  1s:  at the end, get_buckets of the two counters over each room's seconds; chatters from the
       chatter keys' hashes (HGETALL, see below), the distinct keys hit in that second.
  {"room": 10000007, "window": "10s", "start": 1796300000000, "events": 120, "danmaku": 70, "chatters": 41}

What scan_keys returns: redis_timeseries keeps one Redis hash per key and TTL period, named
BASE:GRANULARITY:PERIOD_START:KEY with PERIOD_START = the timestamp rounded down to the TTL (here
86 400 s, so one hash per UTC day), and one field per bucket (the second). scan_keys turns the
10 buckets into hash names, which for a one-day TTL are all the same name (two around midnight),
and runs KEYS on them. The answer is therefore every key hit at any time during the UTC day so
far, not the keys of the last 10 seconds: "active chatters in the last 10 s" grows all day with
every distinct chatter of the room since midnight UTC. And KEYS walks the whole keyspace each
time, once per room every 2 s. The library has no call that tells which keys were hit in one
bucket; the 1 s chatters are therefore read as plain Redis hashes (HGETALL of each chatter key's
day hash, named with the library's own get_key), outside the library's API.

On stdout, at the end, one JSON object:
  {"system": "redis_timeseries", "events": N, "redis_commands": C, "wall_s": W, ...}
(redis_commands: commands the server processed for this run, from INFO; more fields say where
the CPU went). Logs and errors go to stderr: a missing log, a malformed line or an unreachable
Redis exit 2, a Redis error during the run exits 1. The database must be empty (the bench starts
a fresh redis-server); --flush empties it first.

  python redis_timeseries_count.py --log events.jsonl --redis-url redis://127.0.0.1:PORT/0 --out redis_timeseries.jsonl
  (a Unix socket: --redis-url unix:///path/to/redis.sock)
"""

import time

_T0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402

import redis  # noqa: E402
from redis_timeseries import TimeSeries  # noqa: E402

from eventlog import check_paths, event_fields  # noqa: E402

SYSTEM = "redis_timeseries"
BASE_KEY = "bilipulse"
GRAN = "1second"
# The prototype's granularity: 1-second buckets kept for a day.
GRANULARITIES = {GRAN: {"duration": 1, "ttl": 86400}}
TICK_S = 2  # the prototype's loop period
ACTIVE_S = 10  # ... and how far back it looked
# Writes go through the library's chained pipeline (execute=False) and are sent every BATCH
# events. A crawler writing events as they arrive sends each hit on its own (the library's
# default, execute=True: a pipeline and a round trip per record_hit); batching them is a favour
# to the prototype, so that the figures measure the design's work in Redis rather than loopback
# round trips.
BATCH = 1000
READ_CHUNK = 1000  # commands per pipeline when reading back


class Failure(Exception):
    """An error to report in one line; .code is the exit status."""

    def __init__(self, message, code):
        super().__init__(message)
        self.code = code


def cpu_s():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def counter_keys(room):
    return f"{room}:events", f"{room}:danmaku"


def read_events(path):
    """Yields (room, ts in ms, counted danmaku?, uid) for each line of the log."""
    try:
        f = open(path, encoding="utf-8")
    except OSError as e:
        raise Failure(f"{path}: {e.strerror}", 2) from None
    with f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield event_fields(line)
            except (ValueError, KeyError, TypeError) as e:
                raise Failure(f"{path}:{n}: not an event ({e})", 2) from None


class Prototype:
    """The prototype's writes and its 2-second loop, replayed in event time."""

    def __init__(self, client):
        self.client = client
        self.ts = TimeSeries(client, base_key=BASE_KEY, granularities=GRANULARITIES)
        self.pending = 0
        self.rooms = {}  # room -> [first second, last second] with an event
        self.next_tick = None  # the next even second the loop runs at
        self.ticks = 0
        self.tick_cpu_s = 0.0
        self.rows = []  # output lines (dicts)

    def on_event(self, room, ts_ms, counted, uid):
        sec = ts_ms // 1000
        if self.next_tick is None:
            self.next_tick = (sec // TICK_S + 1) * TICK_S
        while sec >= self.next_tick:
            self.tick(self.next_tick)
            self.next_tick += TICK_S
        span = self.rooms.get(room)
        if span is None:
            self.rooms[room] = [sec, sec]
        else:
            span[1] = sec
        events_key, danmaku_key = counter_keys(room)
        self.ts.record_hit(events_key, timestamp=sec, execute=False)
        if counted:
            self.ts.record_hit(danmaku_key, timestamp=sec, execute=False)
            self.ts.record_hit(f"{room}:{uid}", timestamp=sec, execute=False)
        self.pending += 1
        if self.pending >= BATCH:
            self.flush()

    def flush(self):
        if self.pending:
            self.ts.execute()
            self.pending = 0

    def finish(self):
        """After the last event: the loop goes on to the end of the last 10 s window."""
        self.flush()
        if self.next_tick is None:
            return
        last = max(span[1] for span in self.rooms.values())
        end = (last // ACTIVE_S + 1) * ACTIVE_S
        while self.next_tick <= end:
            self.tick(self.next_tick)
            self.next_tick += TICK_S

    def tick(self, t):
        """The prototype's loop at second t: active chatters of every room over [t-10, t)."""
        c0 = cpu_s()
        self.flush()  # everything before t is in Redis, nothing from t on
        self.ticks += 1
        for room in self.rooms:
            active = self.active_chatters(room, t)
            if t % ACTIVE_S:
                continue
            events_key, danmaku_key = counter_keys(room)
            events = self.ts.get_total(events_key, GRAN, ACTIVE_S, timestamp=t - 1)
            if events == 0:
                continue
            danmaku = self.ts.get_total(danmaku_key, GRAN, ACTIVE_S, timestamp=t - 1)
            self.rows.append(row(room, "10s", (t - ACTIVE_S) * 1000, events, danmaku, len(active)))
        self.tick_cpu_s += cpu_s() - c0

    def active_chatters(self, room, t):
        keys = self.ts.scan_keys(GRAN, ACTIVE_S, search=f"{room}:*", timestamp=t - 1)
        counters = counter_keys(room)
        return [k for k in keys if k not in counters]

    def read_back_seconds(self):
        """The 1 s windows of every room, read back from Redis."""
        for room, (first, last) in sorted(self.rooms.items()):
            count = last - first + 1
            if count > GRANULARITIES[GRAN]["ttl"]:
                raise Failure(f"room {room}: its events span {count} s, more than the buckets' TTL", 2)
            events_key, danmaku_key = counter_keys(room)
            seconds = range(first, last + 1)
            # get_buckets returns the `count` buckets up to `timestamp`, oldest first.
            events = [n for _, n in self.ts.get_buckets(events_key, GRAN, count, timestamp=last)]
            danmaku = [n for _, n in self.ts.get_buckets(danmaku_key, GRAN, count, timestamp=last)]
            chatters = self.chatters_per_second(room, first, last)
            for sec, e, d in zip(seconds, events, danmaku):
                if e:
                    self.rows.append(row(room, "1s", sec * 1000, e, d, chatters.get(sec, 0)))

    def chatters_per_second(self, room, first, last):
        """{second: distinct chatter keys hit in it} from the chatter keys' hashes (one field
        per bucket second); the library itself cannot say which keys a bucket holds."""
        keys = self.ts.scan_keys(GRAN, last - first + 1, search=f"{room}:*", timestamp=last)
        counters = counter_keys(room)
        keys = [k for k in keys if k not in counters]
        # The hash of a key for each TTL period (day) the room's seconds touch.
        ttl = GRANULARITIES[GRAN]["ttl"]
        periods = range(first - first % ttl, last + 1, ttl)
        names = [self.ts.get_key(k, p, GRAN) for k in keys for p in periods]
        per_second = {}
        for i in range(0, len(names), READ_CHUNK):
            pipe = self.client.pipeline(transaction=False)
            for name in names[i:i + READ_CHUNK]:
                pipe.hgetall(name)
            for buckets in pipe.execute():
                for field, hits in buckets.items():
                    sec = int(field)
                    if first <= sec <= last and int(hits) > 0:
                        per_second[sec] = per_second.get(sec, 0) + 1
        return per_second


def row(room, window, start, events, danmaku, chatters):
    return {"room": room, "window": window, "start": start,
            "events": events, "danmaku": danmaku, "chatters": chatters}


def server_stats(client):
    info = client.info()
    return info["total_commands_processed"], info["used_cpu_user"] + info["used_cpu_sys"]


def connect(url, flush):
    try:
        client = redis.Redis.from_url(url)
        client.ping()
        size = client.dbsize()
    except ValueError as e:
        raise Failure(f"--redis-url {url}: {e}", 2) from None
    except redis.RedisError as e:
        raise Failure(f"cannot reach Redis at {url}: {e}", 2) from None
    if size and not flush:
        raise Failure(f"the Redis database at {url} holds {size} keys; the count needs an empty one "
                      "(scan_keys sees every key): use a fresh redis-server, or --flush", 2)
    if flush:
        client.flushdb()
    return client


def parse_args():
    p = argparse.ArgumentParser(description="count events, danmaku and chatters per room the prototype's way: redis_timeseries over Redis")
    p.add_argument("--log", required=True, help="the event log (JSON lines, ordered by ts)")
    p.add_argument("--redis-url", required=True, help="redis://127.0.0.1:PORT/0 or unix:///PATH")
    p.add_argument("--out", required=True, help="where to write the windows (JSON lines)")
    p.add_argument("--flush", action="store_true", help="empty the Redis database first")
    a = p.parse_args()
    check_paths(p, a, "redis_timeseries_count")
    return a


def run(a):
    client = connect(a.redis_url, a.flush)
    cmds0, rcpu0 = server_stats(client)
    proto = Prototype(client)
    n = 0
    for room, ts_ms, counted, uid in read_events(a.log):
        proto.on_event(room, ts_ms, counted, uid)
        n += 1
    proto.finish()
    c_ingest = cpu_s()
    proto.read_back_seconds()
    c_end = cpu_s()
    keys = client.dbsize()
    cmds1, rcpu1 = server_stats(client)
    with open(a.out, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in proto.rows)
    return {
        "system": SYSTEM,
        "events": n,
        # The server counts a command once it has run, so the first INFO is in cmds1 and the
        # second in neither; dbsize is counted too.
        "redis_commands": cmds1 - cmds0 - 2,
        "wall_s": round(time.perf_counter() - _T0, 3),
        "cpu_s": round(c_end, 3),
        "cpu_s_ticks": round(proto.tick_cpu_s, 3),
        "cpu_s_read_back": round(c_end - c_ingest, 3),
        "redis_cpu_s": round(rcpu1 - rcpu0, 3),
        "ticks": proto.ticks,
        "rooms": len(proto.rooms),
        "keys": keys,
        "windows": len(proto.rows),
    }


def main():
    a = parse_args()
    try:
        result = run(a)
    except Failure as e:
        print(f"redis_timeseries_count: {e}", file=sys.stderr)
        return e.code
    except redis.RedisError as e:
        print(f"redis_timeseries_count: Redis failed during the run: {e}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
