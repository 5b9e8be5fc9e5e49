#!/usr/bin/env node
// Print bilipulse bus messages as JSON lines.
//
// A starting point for JavaScript tools that read bilipulse from NATS: it subscribes to one or
// more subjects, decodes each MessagePack payload and prints one line per message:
//
//   {"subject":"bili.event.21452505.danmaku","message":{"v":1,"room":21452505,...}}
//
// Uids and room ids may exceed 2^53, which a JS number cannot hold exactly. The decoder
// therefore runs with `useBigInt64: true` (every 64-bit MessagePack integer becomes a BigInt)
// and `toJson` below prints BigInts as plain JSON integers, digit for digit. If you process the
// values, keep ids as BigInt (or strings); never convert them with Number().
//
// After the subscriptions are registered with the server it prints a line `READY`, so a script
// can wait for it before publishing. Messages that are not MessagePack go to stderr and are
// counted too.
//
// Every public subject carries a MessagePack map: events, statuses, window summaries
// (`bili.summary.<room>.<window>`) and live sessions (`bili.session.<room>`) alike. The
// windower's checkpoints (`bili.wckpt.>`) share the `bili.` prefix but are internal, so they are
// skipped (not printed, not counted). This is a core NATS subscription: it sees summaries and
// sessions as they are published, including those of an atomic batch the server then refuses;
// read the stream BILI_SUMMARY through JetStream to see only what was stored.
//
// Requires: @nats-io/transport-node and @msgpack/msgpack (pinned in deploy/node/package.json).
//
//   node consume.mjs --url nats://127.0.0.1:4222 --subject 'bili.event.21452505.>' --count 10

import { parseArgs } from "node:util";
import { decode } from "@msgpack/msgpack";
import { connect } from "@nats-io/transport-node";

// The windower's internal checkpoints: not part of the bus contract.
const INTERNAL = "bili.wckpt.";

const USAGE = `usage: consume.mjs [--url URL] [--subject SUBJECT]... [--count N]
  --url      NATS server URL (default nats://127.0.0.1:4222)
  --subject  subject to subscribe to; repeat for several (default bili.event.>)
  --count    exit after this many messages (default: run forever)`;

/** JSON text for a decoded MessagePack value; BigInts are printed as exact integers. */
function toJson(value) {
  switch (typeof value) {
    case "bigint":
      return value.toString();
    case "number":
      return Number.isFinite(value) ? JSON.stringify(value) : "null";
    case "string":
    case "boolean":
      return JSON.stringify(value);
    case "undefined":
      return "null";
    default:
      break;
  }
  if (value === null) return "null";
  // bilipulse never sends binary or extension values; a foreign message might.
  if (value instanceof Uint8Array) return JSON.stringify(Buffer.from(value).toString("base64"));
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (Array.isArray(value)) return `[${value.map(toJson).join(",")}]`;
  if (value instanceof Map) {
    return `{${[...value].map(([k, v]) => `${JSON.stringify(String(k))}:${toJson(v)}`).join(",")}}`;
  }
  if (typeof value.type === "number" && value.data instanceof Uint8Array) {
    return toJson({ ext: value.type, data: value.data });
  }
  return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}:${toJson(v)}`).join(",")}}`;
}

function parse(argv) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        url: { type: "string", default: "nats://127.0.0.1:4222" },
        subject: { type: "string", multiple: true },
        count: { type: "string", default: "0" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (e) {
    console.error(`consume.mjs: ${e.message}\n${USAGE}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const count = Number.parseInt(values.count, 10);
  if (!Number.isSafeInteger(count) || count < 0) {
    console.error(`consume.mjs: --count must be a non-negative integer\n${USAGE}`);
    process.exit(2);
  }
  return { url: values.url, subjects: values.subject ?? ["bili.event.>"], count };
}

async function main() {
  const args = parse(process.argv.slice(2));
  const nc = await connect({ servers: args.url, name: "bilipulse-consume-js", timeout: 5000 });
  let seen = 0;
  let done = false;

  const onMessage = (err, msg) => {
    if (err) {
      console.error(`consume.mjs: subscription error: ${err.message}`);
      return;
    }
    if (done || msg.subject.startsWith(INTERNAL)) return;
    try {
      const message = decode(msg.data, { useBigInt64: true });
      process.stdout.write(`{"subject":${JSON.stringify(msg.subject)},"message":${toJson(message)}}\n`);
    } catch (e) {
      console.error(`consume.mjs: ${msg.subject}: undecodable message: ${e.message}`);
    }
    seen += 1;
    if (args.count > 0 && seen >= args.count) {
      done = true;
      nc.drain().catch((e) => console.error(`consume.mjs: drain: ${e.message}`));
    }
  };

  for (const subject of args.subjects) nc.subscribe(subject, { callback: onMessage });
  // The flush round trip guarantees the server has registered the subscriptions.
  await nc.flush();
  process.stdout.write("READY\n");

  const err = await nc.closed();
  if (err) {
    console.error(`consume.mjs: connection closed with error: ${err.message}`);
    process.exitCode = 1;
  }
}

main().catch((e) => {
  console.error(`consume.mjs: ${e.message ?? e}`);
  process.exit(1);
});
