#!/usr/bin/env node
// A long-lived headless browser for integration tests: Debian's Chromium through
// playwright-core, driven by JSON lines on stdin, answered by JSON lines on stdout.
//
//   node e2e/driver.mjs        (env BILIPULSE_CHROMIUM: the browser, default /usr/bin/chromium)
//
// One command per line, one answer per line, in order; every answer carries the command's id:
//   {"id":1,"cmd":"goto","url":"http://…","timeout_ms":30000}  → {"id":1,"ok":true,"value":{"url":…,"status":200}}
//   {"id":2,"cmd":"eval","expr":"window.__bilipulse.state()"}  → {"id":2,"ok":true,"value":"open"}
//       (a JS expression; a promise is awaited; the value must be JSON-serialisable,
//        undefined answers null)
//   {"id":3,"cmd":"wait","expr":"…","timeout_ms":30000}         → the first truthy value, polled
//       every 100 ms; ok:false with the error on timeout
//   {"id":4,"cmd":"screenshot","path":"/abs/file.png","full_page":true} → {"value":"/abs/file.png"}
//   {"id":5,"cmd":"errors","clear":false}  → {"value":[{"type":"console"|"pageerror","text":…,"url":…}]}
//       console errors and uncaught page errors so far (the favicon 404 left out);
//       "clear":true empties the list after answering
//   {"id":6,"cmd":"close"}                 → answers, closes the browser, exits 0
// A failure answers {"id":…,"ok":false,"error":"…"} and the driver carries on. A line that is
// not JSON answers with "id":null. Nothing else is written to stdout (logs go to stderr). The
// driver closes the browser and exits 0 when stdin closes; it exits 1 if the browser cannot
// be launched.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const executablePath = process.env.BILIPULSE_CHROMIUM || '/usr/bin/chromium';
const log = (...a) => console.error('driver:', ...a);

const profile = mkdtempSync(join(tmpdir(), 'bilipulse-chromium-'));
let context;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
} catch (e) {
  log(`cannot launch ${executablePath}: ${e.message}`);
  rmSync(profile, { recursive: true, force: true });
  process.exit(1);
}
log(`launched ${executablePath} (${context.browser()?.version() ?? 'persistent context'})`);

const errors = [];
let page = null;

function isFavicon(url) {
  return /\/favicon\.ico(\?|$)/.test(url ?? '');
}

function watch(p) {
  p.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const url = msg.location()?.url ?? '';
    if (isFavicon(url)) return;
    errors.push({ type: 'console', text: msg.text(), url });
  });
  p.on('pageerror', (err) =>
    errors.push({ type: 'pageerror', text: String(err?.stack ?? err), url: p.url() }),
  );
  p.on('crash', () => log('page crashed'));
}

async function currentPage() {
  if (page && !page.isClosed()) return page;
  page = context.pages().find((p) => !p.isClosed()) ?? (await context.newPage());
  if (!page.__watched) {
    watch(page);
    page.__watched = true;
  }
  return page;
}
await currentPage();

function need(cmd, field, type) {
  if (typeof cmd[field] !== type) throw new Error(`"${cmd.cmd}" needs "${field}" (${type})`);
  return cmd[field];
}

function timeout(cmd, dflt) {
  const t = cmd.timeout_ms;
  return Number.isFinite(t) && t >= 0 ? t : dflt;
}

/** JSON-safe: undefined as null, anything else through JSON (so NaN becomes null). */
function plain(v) {
  return v === undefined ? null : JSON.parse(JSON.stringify(v) ?? 'null');
}

let closing = false;

async function run(cmd) {
  switch (cmd.cmd) {
    case 'goto': {
      const p = await currentPage();
      const res = await p.goto(need(cmd, 'url', 'string'), {
        waitUntil: 'load',
        timeout: timeout(cmd, 30000),
      });
      return { url: p.url(), status: res?.status() ?? null };
    }
    case 'eval': {
      const p = await currentPage();
      return plain(await p.evaluate(need(cmd, 'expr', 'string')));
    }
    case 'wait': {
      const p = await currentPage();
      const handle = await p.waitForFunction(need(cmd, 'expr', 'string'), undefined, {
        timeout: timeout(cmd, 30000),
        polling: 100,
      });
      try {
        return plain(await handle.jsonValue());
      } finally {
        await handle.dispose().catch(() => {});
      }
    }
    case 'screenshot': {
      const p = await currentPage();
      const path = need(cmd, 'path', 'string');
      await p.screenshot({ path, fullPage: cmd.full_page === true, timeout: timeout(cmd, 30000) });
      return path;
    }
    case 'errors': {
      const list = errors.slice();
      if (cmd.clear === true) errors.length = 0;
      return list;
    }
    case 'close':
      closing = true;
      return null;
    default:
      throw new Error(`unknown cmd ${JSON.stringify(cmd.cmd)}`);
  }
}

function answer(obj) {
  return new Promise((resolve) => {
    if (!process.stdout.write(`${JSON.stringify(obj)}\n`)) process.stdout.once('drain', resolve);
    else resolve();
  });
}

async function shutdown(code) {
  try {
    await context.close();
  } catch (e) {
    log(`closing the browser: ${e.message}`);
  }
  rmSync(profile, { recursive: true, force: true });
  process.exit(code);
}

async function handleLine(line) {
  if (!line.trim()) return;
  let cmd;
  try {
    cmd = JSON.parse(line);
    if (!cmd || typeof cmd !== 'object' || Array.isArray(cmd)) throw new Error('a command is a JSON object');
  } catch (e) {
    await answer({ id: null, ok: false, error: `bad command line: ${e.message}` });
    return;
  }
  const id = cmd.id ?? null;
  try {
    const value = await run(cmd);
    await answer({ id, ok: true, value });
  } catch (e) {
    await answer({ id, ok: false, error: String(e?.message ?? e) });
  }
  if (closing) await shutdown(0);
}

// Commands run one at a time, in the order they arrive.
let chain = Promise.resolve();
const rl = createInterface({ input: process.stdin, terminal: false });
rl.on('line', (line) => {
  chain = chain.then(() => handleLine(line));
});
rl.on('close', () => {
  chain = chain.then(() => shutdown(0));
});
process.on('SIGTERM', () => shutdown(0));
process.on('SIGINT', () => shutdown(0));
