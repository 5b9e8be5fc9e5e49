#!/usr/bin/env python3
"""Print bilipulse bus messages as JSON lines.

A starting point for Python tools that read bilipulse from NATS: it subscribes to one or more
subjects, decodes each MessagePack payload into plain Python values and prints one line per
message:

    {"subject": "bili.event.21452505.danmaku", "message": {"v": 1, "room": 21452505, ...}}

Integers stay exact (Python ints have no size limit, so uids above 2**53 survive). After the
subscriptions are registered with the server it prints a line `READY`, so a script can wait
for it before publishing. Messages that are not MessagePack go to stderr and are counted too.

Every public subject carries a MessagePack map: events, statuses, window summaries
(`bili.summary.<room>.<window>`) and live sessions (`bili.session.<room>`) alike. The
windower's checkpoints (`bili.wckpt.>`) share the `bili.` prefix but are internal, so they are
skipped (not printed, not counted). This is a core NATS subscription: it sees summaries and
sessions as they are published, including those of an atomic batch the server then refuses;
read the stream BILI_SUMMARY through JetStream to see only what was stored.

Requires: nats-py and msgpack (pinned in deploy/requirements-consumers.txt).

    python consume.py --url nats://127.0.0.1:4222 --subject 'bili.event.21452505.>' --count 10
"""

import argparse
import asyncio
import base64
import json
import sys

import msgpack
import nats

# The windower's internal checkpoints: not part of the bus contract.
INTERNAL = "bili.wckpt."


def to_jsonable(value):
    """Values json.dumps cannot print itself. bilipulse never sends any of these; a foreign
    message might."""
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, msgpack.Timestamp):
        return value.to_datetime().isoformat()
    if isinstance(value, msgpack.ExtType):
        return {"ext": value.code, "data": base64.b64encode(value.data).decode("ascii")}
    raise TypeError(f"cannot print {type(value).__name__} as JSON")


def parse_args(argv):
    p = argparse.ArgumentParser(description="Print bilipulse NATS messages as JSON lines.")
    p.add_argument("--url", default="nats://127.0.0.1:4222", help="NATS server URL")
    p.add_argument(
        "--subject",
        action="append",
        help="subject to subscribe to; repeat for several (default: bili.event.>)",
    )
    p.add_argument(
        "--count", type=int, default=0, help="exit after this many messages (default: run forever)"
    )
    args = p.parse_args(argv)
    args.subject = args.subject or ["bili.event.>"]
    return args


async def consume(args):
    async def on_error(e):
        print(f"consume.py: NATS error: {e}", file=sys.stderr, flush=True)

    nc = await nats.connect(
        args.url, name="bilipulse-consume-py", connect_timeout=5, error_cb=on_error
    )
    done = asyncio.Event()
    seen = 0

    async def on_message(msg):
        nonlocal seen
        if done.is_set() or msg.subject.startswith(INTERNAL):
            return
        try:
            body = msgpack.unpackb(msg.data, raw=False)
            line = json.dumps(
                {"subject": msg.subject, "message": body},
                ensure_ascii=False,
                default=to_jsonable,
            )
            print(line, flush=True)
        except (ValueError, TypeError, msgpack.UnpackException) as e:
            print(
                f"consume.py: {msg.subject}: undecodable message: {type(e).__name__}: {e}",
                file=sys.stderr,
                flush=True,
            )
        seen += 1
        if args.count and seen >= args.count:
            done.set()

    for subject in args.subject:
        await nc.subscribe(subject, cb=on_message)
    # The flush round trip guarantees the server has registered the subscriptions.
    await nc.flush()
    print("READY", flush=True)
    try:
        await done.wait()
    finally:
        await nc.drain()


def main(argv=None):
    args = parse_args(argv)
    # Chat is mostly Chinese: print UTF-8 whatever the locale says.
    sys.stdout.reconfigure(encoding="utf-8")
    try:
        asyncio.run(consume(args))
    except KeyboardInterrupt:
        return 130
    except (OSError, nats.errors.Error) as e:
        print(f"consume.py: {e!r}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
