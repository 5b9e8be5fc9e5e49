"""Decode-speed driver for the peer client blivedm (PyPI, pinned in requirements-peers.txt
beside this file; installed by deploy/install-tools.sh --bench into .tools/peers/venv; run with that venv's python).

It opens --conns BLiveClient connections to --url for --room (anonymous: uid 0, no key;
blivedm always asks for protover 3 = brotli) and counts every decoded command blivedm
dispatches to its handlers: op-5 commands after blivedm has brotli-decompressed the container
and json.loads'ed the command (client.py _parse_business_message -> _handle_command ->
handler.handle(client, command), command being the parsed dict). The `_HEARTBEAT` command
blivedm synthesises from an op-3 heartbeat reply is not a server command and is not counted.
It exits as soon as --messages commands in total have been counted, or after --timeout-s with
exit code 1, printing one JSON line on stdout either way:
  {"peer":"blivedm","version":"0.1.1","messages":N,"cpu_s":X,"wall_s":Y,"max_rss_kib":Z}
Logs go to stderr.

  python blivedm_count.py --url ws://127.0.0.1:PORT/sub --room ROOM --conns C --messages M [--timeout-s T]

blivedm 0.1.1 would resolve the room over HTTPS (getInfoByRoom, getDanmuInfo at
api.live.bilibili.com) and connect to a hard-coded wss://{host}:{wss_port}/sub. Here it never
reaches the network beyond --url: LocalClient.init_room sets the room id and host list itself
(no HTTP), and the client's aiohttp session is wrapped so that ws_connect goes to --url and
any plain HTTP request fails.
"""

import time

_T_SCRIPT = time.perf_counter()

import argparse  # noqa: E402
import asyncio  # noqa: E402
import importlib.metadata  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import urllib.parse  # noqa: E402

PEER = "blivedm"
log = logging.getLogger("blivedm_count")


def _started_ago():
    """Seconds since this process started (from /proc; else since this script began)."""
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        start = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime, since boot
        ago = time.clock_gettime(time.CLOCK_BOOTTIME) - start
        if 0 <= ago < 3600:
            return ago - (time.perf_counter() - _T_SCRIPT)
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    return 0.0


# Offset of the script's start from the process's start (interpreter start-up, imports).
_T_OFFSET = _started_ago()


def wall_s():
    return _T_OFFSET + time.perf_counter() - _T_SCRIPT


def parse_args():
    p = argparse.ArgumentParser(description="count the commands blivedm decodes from a local endpoint")
    p.add_argument("--url", required=True, help="ws://HOST:PORT/sub")
    p.add_argument("--room", required=True, type=int)
    p.add_argument("--conns", type=int, default=1)
    p.add_argument("--messages", required=True, type=int)
    p.add_argument("--timeout-s", type=float, default=120.0)
    a = p.parse_args()
    u = urllib.parse.urlsplit(a.url)
    if u.scheme not in ("ws", "wss") or not u.hostname:
        p.error(f"--url must be ws://HOST:PORT/sub, got {a.url}")
    for name in ("room", "conns", "messages", "timeout_s"):
        if getattr(a, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive")
    return a


args = parse_args()
logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(name)s: %(message)s")

try:
    import blivedm  # noqa: E402
    import blivedm.client  # noqa: E402
except ImportError as e:
    sys.stderr.write(f"blivedm_count: cannot import blivedm ({e}); run it with the venv from deploy/install-tools.sh --bench\n")
    sys.exit(2)

VERSION = importlib.metadata.version(PEER)


class LocalSession:
    """The client's own aiohttp session, with every WebSocket sent to one local URL and plain
    HTTP refused, so that nothing can reach Bilibili."""

    def __init__(self, session, url):
        self._session = session
        self._url = url

    def ws_connect(self, url, **kwargs):
        # blivedm passes wss://{host}:{wss_port}/sub and its SSL context; the local endpoint
        # is plain ws://.
        if self._url.startswith("ws://"):
            kwargs.pop("ssl", None)
        return self._session.ws_connect(self._url, **kwargs)

    def _refuse(self, *args, **kwargs):
        raise RuntimeError("blivedm_count: HTTP requests are disabled (local endpoint only)")

    get = post = request = _refuse

    async def close(self):
        await self._session.close()


class Counter:
    def __init__(self, target, conns):
        self.target = target
        self.conns = conns
        self.count = 0
        self.closed = 0
        self.result = None
        self.done = asyncio.Event()

    def finish(self, code, why):
        if self.result is not None:
            return
        # Everything is measured at the moment of the M-th command (or of the timeout).
        wall = wall_s()
        ru = resource.getrusage(resource.RUSAGE_SELF)  # whole process, executor threads included
        self.result = (code, why, {
            "peer": PEER,
            "version": VERSION,
            "messages": self.count,
            "cpu_s": round(ru.ru_utime + ru.ru_stime, 3),
            "wall_s": round(wall, 3),
            "max_rss_kib": ru.ru_maxrss,  # KiB on Linux
        })
        self.done.set()


class CountingHandler(blivedm.BaseHandler):
    def __init__(self, counter):
        self._counter = counter

    async def handle(self, client, command: dict):
        c = self._counter
        if c.result is not None or command.get("cmd") == "_HEARTBEAT":
            return
        c.count += 1
        if c.count >= c.target:
            c.finish(0, "done")


class LocalClient(blivedm.BLiveClient):
    """BLiveClient for a local endpoint: no HTTP room resolution, no reconnects."""

    def __init__(self, room_id, url, counter, index):
        super().__init__(room_id, uid=0)
        self._session = LocalSession(self._session, url)
        u = urllib.parse.urlsplit(url)
        port = u.port or (443 if u.scheme == "wss" else 80)
        self._local_host = {"host": u.hostname, "port": port, "wss_port": port, "ws_port": port}
        self._counter = counter
        self._index = index

    async def init_room(self):
        # Instead of getInfoByRoom + getDanmuInfo: the room as given, no owner, one host, no
        # token (so the auth packet has uid 0 and no key, as blivedm's own degraded mode).
        self._room_id = self._room_short_id = self._tmp_room_id
        self._room_owner_uid = 0
        self._host_server_list = [self._local_host]
        self._host_server_token = None
        return True

    async def _on_ws_close(self):
        await super()._on_ws_close()
        c = self._counter
        if c.result is None:
            # blivedm would reconnect after a second; a benchmark run fails instead.
            c.closed += 1
            log.warning("connection %d closed before the end", self._index)
            self.stop()
            if c.closed == c.conns:
                c.finish(1, "every connection closed")


async def main():
    counter = Counter(args.messages, args.conns)
    handler = CountingHandler(counter)
    clients = []
    for i in range(args.conns):
        client = LocalClient(args.room, args.url, counter, i)
        client.add_handler(handler)
        client.start()
        clients.append(client)
    try:
        await asyncio.wait_for(counter.done.wait(), args.timeout_s)
    except asyncio.TimeoutError:
        counter.finish(1, f"timeout after {args.timeout_s:g}s")
    code, why, line = counter.result
    sys.stdout.write(json.dumps(line, separators=(",", ":")) + "\n")
    sys.stdout.flush()
    sys.stderr.write(f"blivedm_count: {why}: {counter.count} commands over {args.conns} connection(s), "
                     f"{counter.closed} closed early\n")
    try:
        await asyncio.wait_for(asyncio.gather(*(c.stop_and_close() for c in clients), return_exceptions=True), 5)
    except asyncio.TimeoutError:
        pass
    return code


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
