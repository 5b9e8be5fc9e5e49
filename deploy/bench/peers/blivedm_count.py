#!/usr/bin/env python3
"""Decode-speed driver for the peer client blivedm 0.1.1 (PyPI, pinned in
requirements-peers.txt; installed by install.sh into <dir>/venv).

Opens --conns BLiveClient connections to --url for --room, anonymous (uid 0, no key), and
counts every command the library hands its handlers: blivedm brotli-decompresses each
container, json.loads each command and dispatches the dict to every handler's handle(); ours
counts it and lets blivedm's BaseHandler turn it into its message model, as a user's handler
would. Exits once --messages commands in total were counted (or after --timeout-s, exit 1),
printing one JSON line on stdout:
  {"peer":"blivedm","version":"0.1.1","messages":N,"cpu_s":X,"wall_s":Y,"max_rss_kib":Z}

blivedm 0.1.1 resolves a room over HTTPS (getDanmuInfo) and connects to a hard-coded
wss://HOST:PORT/sub; neither may leave this machine, so the driver sets the room and host list
itself (init_room) and sends the library's ws_connect to --url (its session's ws_connect,
wrapped). Nothing else of the library is changed.
"""

import argparse
import asyncio
import json
import logging
import os
import resource
import sys
import time

import aiohttp
import blivedm

PEER = "blivedm"
VERSION = "0.1.1"
STARTED = time.monotonic()


class LocalClient(blivedm.BLiveClient):
    """A BLiveClient that knows its room and server without asking Bilibili's HTTP API."""

    def __init__(self, room, url, session):
        super().__init__(room, uid=0, session=session)
        self._local_url = url

    async def init_room(self):
        self._room_id = self._tmp_room_id
        self._room_short_id = 0
        self._room_owner_uid = 0
        self._host_server_list = [{"host": "local", "port": 0, "wss_port": 0, "ws_port": 0}]
        self._host_server_token = None
        return True


class Counter(blivedm.BaseHandler):
    """Counts commands, then lets blivedm dispatch them to its models."""

    def __init__(self, target, done):
        super().__init__()
        self.count = 0
        self.target = target
        self.done = done

    async def handle(self, client, command):
        self.count += 1
        if self.count >= self.target:
            self.done.set()
        await super().handle(client, command)


def report(count):
    usage = resource.getrusage(resource.RUSAGE_SELF)
    line = {
        "peer": PEER,
        "version": VERSION,
        "messages": count,
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "wall_s": round(time.monotonic() - STARTED, 3),
        "max_rss_kib": usage.ru_maxrss,
    }
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


async def main(args):
    # blivedm logs each unknown command once at INFO; the bench is not about its logging.
    logging.getLogger("blivedm").setLevel(logging.WARNING)
    done = asyncio.Event()
    counter = Counter(args.messages, done)
    session = aiohttp.ClientSession()
    connect = session.ws_connect

    def to_local(_url, **kwargs):
        kwargs.pop("ssl", None)  # plain ws:// on loopback
        return connect(args.url, **kwargs)

    session.ws_connect = to_local
    clients = []
    for _ in range(args.conns):
        c = LocalClient(args.room, args.url, session)
        c.add_handler(counter)
        c.start()
        clients.append(c)
    try:
        await asyncio.wait_for(done.wait(), args.timeout_s)
        code = 0
    except asyncio.TimeoutError:
        print(f"blivedm: timeout after {args.timeout_s}s", file=sys.stderr)
        code = 1
    report(counter.count)
    # Tearing the connections down is not part of what is measured.
    os._exit(code)


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True)
    p.add_argument("--room", type=int, required=True)
    p.add_argument("--conns", type=int, default=1)
    p.add_argument("--messages", type=int, required=True)
    p.add_argument("--timeout-s", type=float, default=120.0)
    a = p.parse_args()
    if a.conns < 1 or a.messages < 1 or not a.url.startswith(("ws://", "wss://")):
        p.error("--conns and --messages must be positive, --url a ws:// URL")
    return a


if __name__ == "__main__":
    asyncio.run(main(parse()))
