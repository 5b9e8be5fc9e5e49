#!/usr/bin/env node
// Decode-speed driver for the peer client bilibili-live-ws (npm, pinned in package-lock.json
// beside this file; installed by deploy/install-tools.sh --bench into .tools/peers/node). It opens --conns LiveWS
// connections to --url for --room (anonymous: uid 0, no key, no buvid; protover 3 = brotli)
// and counts the decoded commands the library hands its user: one `msg` event per op-5
// command, after the library has brotli-decompressed the container (zlib.brotliDecompress)
// and JSON.parse'd the command (src/buffer.js makeDecoder, src/common.js). It exits as soon
// as --messages commands in total have been counted, or after --timeout-s with exit code 1,
// printing one JSON line on stdout either way:
//   {"peer":"bilibili-live-ws","version":"6.3.1","messages":N,"cpu_s":X,"wall_s":Y,"max_rss_kib":Z}
// Logs go to stderr. Usage:
//   node live-ws.mjs --url ws://127.0.0.1:PORT/sub --room ROOM --conns C --messages M [--timeout-s T]
// The library is loaded from $BILIPULSE_PEERS/node/node_modules (default
// <repo>/.tools/peers/node, where deploy/install-tools.sh --bench puts it).
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

const PEER = 'bilibili-live-ws';
const log = (msg) => process.stderr.write(`live-ws: ${msg}\n`);

function usage(msg) {
    log(`${msg}\nusage: node live-ws.mjs --url ws://HOST:PORT/sub --room ROOM --conns C --messages M [--timeout-s T]`);
    process.exit(2);
}

let args;
try {
    args = parseArgs({
        options: {
            url: { type: 'string' },
            room: { type: 'string' },
            conns: { type: 'string', default: '1' },
            messages: { type: 'string' },
            'timeout-s': { type: 'string', default: '120' },
        },
        strict: true,
    }).values;
} catch (e) {
    usage(e.message);
}
const posInt = (name) => {
    const v = Number(args[name]);
    if (!Number.isInteger(v) || v <= 0) usage(`--${name} must be a positive integer, got ${args[name]}`);
    return v;
};
if (!args.url || !/^wss?:\/\//.test(args.url)) usage('--url ws://HOST:PORT/sub is required');
if (args.room === undefined || args.messages === undefined) usage('--room and --messages are required');
const room = posInt('room');
const conns = posInt('conns');
const target = posInt('messages');
const timeoutS = Number(args['timeout-s']);
if (!(timeoutS > 0)) usage(`--timeout-s must be a positive number, got ${args['timeout-s']}`);

const here = dirname(fileURLToPath(import.meta.url));
const peersDir = process.env.BILIPULSE_PEERS || resolve(here, '../../../.tools/peers');
const require = createRequire(join(peersDir, 'node', 'package.json'));
let LiveWS, version;
try {
    ({ LiveWS } = require(PEER));
    ({ version } = require(`${PEER}/package.json`));
} catch (e) {
    log(`cannot load ${PEER} from ${join(peersDir, 'node')} (run deploy/install-tools.sh --bench): ${e.message}`);
    process.exit(2);
}

let count = 0;
let done = false;
let closed = 0;
const lives = [];

function finish(code, why) {
    if (done) return;
    done = true;
    // Everything is measured at the moment of the M-th command (or of the timeout).
    const wall = performance.now() / 1000; // since the process's time origin (its start)
    const cpu = process.cpuUsage(); // whole process, libuv's threadpool (brotli) included
    const rss = process.resourceUsage().maxRSS; // KiB
    const line = JSON.stringify({
        peer: PEER,
        version,
        messages: count,
        cpu_s: Number(((cpu.user + cpu.system) / 1e6).toFixed(3)),
        wall_s: Number(wall.toFixed(3)),
        max_rss_kib: rss,
    });
    process.stdout.write(`${line}\n`);
    log(`${why}: ${count} commands over ${conns} connection(s), ${closed} closed early`);
    for (const live of lives) {
        try {
            live.close();
        } catch {
            // already closed
        }
    }
    process.exit(code);
}

process.on('unhandledRejection', (e) => {
    // The library's message handler is async: a frame it cannot decode rejects there.
    log(`decode error in ${PEER}: ${e && e.message ? e.message : e}`);
});

const timer = setTimeout(() => finish(1, `timeout after ${timeoutS}s`), timeoutS * 1000);
timer.unref?.();

for (let i = 0; i < conns; i++) {
    // `address` replaces the library's default wss://broadcastlv.chat.bilibili.com/sub;
    // protover must be given: the library's default is 2 (zlib).
    const live = new LiveWS(room, { address: args.url, protover: 3, uid: 0 });
    lives.push(live);
    live.on('msg', () => {
        if (done) return;
        count += 1;
        if (count >= target) finish(0, 'done');
    });
    live.on('error', (e) => log(`connection ${i}: error ${e && e.message ? e.message : e ?? ''}`));
    live.on('close', () => {
        if (done) return;
        closed += 1;
        log(`connection ${i} closed before the end`);
        if (closed === conns) finish(1, 'every connection closed');
    });
}
