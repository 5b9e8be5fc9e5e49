#!/usr/bin/env bash
# Installs the pinned peer clients of the decode comparison (deploy/bench.sh) into a git-ignored
# directory (default <repo>/.tools/peers):
#
#   <dir>/node   bilibili-live-ws 6.3.1    npm ci against package-lock.json beside this script
#   <dir>/venv   blivedm 0.1.1 and deps    pip --require-hashes -r requirements-peers.txt
#
# Only their packages are installed; the drivers that run them (live-ws.mjs, blivedm_count.py)
# are ours. A part whose inputs (lock or requirements file, interpreter version) are unchanged
# since it last succeeded is skipped.
#
#   bash deploy/bench/peers/install.sh [dir]
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
DIR="${1:-$ROOT/.tools/peers}"

log() { printf 'peers: %s\n' "$*" >&2; }
die() {
    printf 'peers: ERROR: %s\n' "$*" >&2
    exit 1
}

command -v node >/dev/null || die "node (20+) is needed"
command -v npm >/dev/null || die "npm is needed"
command -v python3 >/dev/null || die "python3 (3.11) is needed"
mkdir -p "$DIR"

# Runs install_$1 unless the stamp <dir>/.stamp-$1 holds the fingerprint $2 and check_$1 passes.
step() {
    local name="$1" print="$2" stamp="$DIR/.stamp-$1"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$print" ]] && "check_$name"; then
        log "$name: up to date"
        return
    fi
    log "$name: installing"
    "install_$name"
    "check_$name" || die "$name: installed, but the check afterwards failed"
    printf '%s\n' "$print" >"$stamp"
}

check_node() {
    [[ -f "$DIR/node/node_modules/bilibili-live-ws/package.json" ]]
}
install_node() {
    rm -rf "$DIR/node"
    mkdir -p "$DIR/node"
    cp "$HERE/package.json" "$HERE/package-lock.json" "$DIR/node/"
    (cd "$DIR/node" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2) ||
        die "npm ci failed (registry unreachable, or the lock file is stale?)"
}

check_venv() {
    "$DIR/venv/bin/python" -c 'import blivedm, aiohttp, brotli' >/dev/null 2>&1
}
install_venv() {
    rm -rf "$DIR/venv"
    python3 -m venv "$DIR/venv" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    "$DIR/venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        --require-hashes --only-binary=:all: -r "$HERE/requirements-peers.txt" ||
        die "pip could not install requirements-peers.txt (hash mismatch, other Python, or PyPI unreachable?)"
}

step node "$(cat "$HERE/package-lock.json" <(node --version) | sha256sum | cut -d' ' -f1)"
step venv "$(cat "$HERE/requirements-peers.txt" <(python3 --version) | sha256sum | cut -d' ' -f1)"
log "bilibili-live-ws $(node -p "require('$DIR/node/node_modules/bilibili-live-ws/package.json').version"), \
blivedm $("$DIR/venv/bin/python" -c 'import importlib.metadata as m; print(m.version("blivedm"))')"
