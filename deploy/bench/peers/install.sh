#!/usr/bin/env bash
# Installs the two peer Bilibili live-danmaku clients that deploy/bench/peers drives, pinned,
# into a git-ignored directory ($1, default <repo>/.tools/peers):
#
#   <dir>/node   bilibili-live-ws 6.3.1 (npm ci)    deploy/bench/peers/package{,-lock}.json
#   <dir>/venv   blivedm 0.1.1 (pip, hashes)       deploy/bench/peers/requirements-peers.txt
#
# npm runs as `npm ci` against the committed lock file with no install scripts; pip runs with
# --require-hashes and --only-binary=:all: (every pin, brotli 1.0.9 included, is a wheel for
# CPython 3.11 on Linux x86_64). A part whose inputs (lock/requirements file and interpreter
# version) have not changed since it last succeeded is skipped: <dir>/.stamp-<part> holds their
# sha256. At the end it prints the installed versions. Needs python3 3.11 with venv, node 20+
# and npm.
#
#   deploy/bench/peers/install.sh [DIR]
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
DIR="${1:-$ROOT/.tools/peers}"

log() { printf 'peers/install: %s\n' "$*" >&2; }
die() {
    printf 'peers/install: ERROR: %s\n' "$*" >&2
    exit 1
}

need() {
    command -v "$1" >/dev/null 2>&1 || die "$1 is required but not on PATH ($2)"
}

# Fingerprint of a part's inputs: its pinned files plus the interpreter it runs with.
fingerprint() {
    { cat "$@"; } | sha256sum | cut -d' ' -f1
}

# Runs part "$1" unless its stamp says the inputs ($2) are unchanged. The stamp is written
# only after the part succeeded, so an interrupted run redoes it.
step() {
    local name="$1" print="$2" stamp="$DIR/.stamp-$1"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$print" ]] && "check_$name"; then
        log "$name: up to date"
        return
    fi
    local t0=$SECONDS
    log "$name: installing"
    "install_$name"
    "check_$name" || die "$name: installed, but the check afterwards failed"
    printf '%s\n' "$print" >"$stamp"
    log "$name: done in $((SECONDS - t0))s"
}

# --- bilibili-live-ws (node) ----------------------------------------------------------------

NODE_DIR="$DIR/node"
LIVE_WS_VERSION=6.3.1

live_ws_version() {
    node -p "require('$NODE_DIR/node_modules/bilibili-live-ws/package.json').version" 2>/dev/null
}

check_node() {
    [[ "$(live_ws_version)" == "$LIVE_WS_VERSION" ]]
}

install_node() {
    mkdir -p "$NODE_DIR"
    cp "$HERE/package.json" "$HERE/package-lock.json" "$NODE_DIR/"
    # No install scripts: none of these packages needs one, and none may download behind our back.
    (cd "$NODE_DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2) ||
        die "npm ci failed in $NODE_DIR (npm registry unreachable, or the lock file is stale?)"
}

# --- blivedm (python venv) ------------------------------------------------------------------

VENV="$DIR/venv"
PY_REQ="$HERE/requirements-peers.txt"
BLIVEDM_VERSION=0.1.1

check_venv() {
    "$VENV/bin/python" -c "
import importlib.metadata as m, blivedm, brotli, aiohttp
assert m.version('blivedm') == '$BLIVEDM_VERSION'
" >/dev/null 2>&1
}

install_venv() {
    python3 -c 'import ensurepip, venv' >/dev/null 2>&1 ||
        die "python3 cannot create virtual environments; install python3-venv (Debian) and rerun"
    rm -rf "$VENV"
    python3 -m venv "$VENV" || die "python3 -m venv $VENV failed"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        --require-hashes --only-binary=:all: -r "$PY_REQ" ||
        die "pip could not install $PY_REQ (hash mismatch or PyPI unreachable?)"
}

main() {
    need python3 "Python 3.11"
    need node "Node.js 20+"
    need npm "npm, shipped with Node.js"
    need sha256sum "coreutils"
    # The hashes in requirements-peers.txt are those of the cp311 wheels.
    python3 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' ||
        die "requirements-peers.txt pins CPython 3.11 wheels, but python3 is $(python3 --version 2>&1); regenerate it for this interpreter"
    mkdir -p "$DIR"
    log "peers directory: $DIR"

    # One run at a time.
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$DIR/.lock"
        flock 9
    fi

    local py node_v
    py="$(python3 -c 'import sys; print(sys.version)')"
    node_v="$(node --version)"

    step node "$(fingerprint "$HERE/package-lock.json" <(printf '%s' "$node_v"))"
    step venv "$(fingerprint "$PY_REQ" <(printf '%s' "$py"))"

    # The installed versions, on stdout.
    printf 'bilibili-live-ws %s (node %s) in %s\n' "$(live_ws_version)" "$node_v" "$NODE_DIR"
    "$VENV/bin/python" -c '
import importlib.metadata as m, platform, sys
v = m.version
print("blivedm %s (brotli %s, aiohttp %s; python %s) in %s"
      % (v("blivedm"), v("brotli"), v("aiohttp"), platform.python_version(), sys.prefix))'
}

main "$@"
