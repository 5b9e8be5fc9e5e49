#!/usr/bin/env bash
# Starts the whole bilipulse system on this machine, everything on 127.0.0.1, supervised the way
# Kubernetes runs it in a cluster:
#   nats-server with JetStream (data in .data), the Bilibili simulator as the source, two
#   ingesters sharing the rooms (logged in to the simulator: identities unmasked), a windower,
#   the gateway serving the dashboard; the rooms registered; waits until the first summary is
#   published and prints the dashboard's URL.
#
# A process that dies is logged and restarted with back-off while the rest keeps running
# (`kill -9` an ingester and watch its rooms move); Ctrl-C, SIGTERM and SIGHUP stop everything,
# ingesters first. Busy ports are reported by number, with what holds them, before anything
# starts. `deploy/scale.sh ingester +1` adds a replica to the running stack.
#
# This script installs nats-server and builds the dashboard (deploy/install-tools.sh --stack),
# builds the six binaries the stack runs with the `local` profile into target/local, then runs
# `target/local/bilipulse-stack up` with the arguments given here, e.g.
#   deploy/run.sh --ingesters 3 --rooms 200 --rate 2000 --nats-cluster
#   deploy/run.sh --anonymous                 # what masked identities look like
# `deploy/run.sh --help` lists every option (each with a BILIPULSE_* environment fallback).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

log() { printf '\033[1m[run]\033[0m %s\n' "$*" >&2; }

bins=(bilipulse-sim bilipulse-ingester bilipulse-windower bilipulse-gateway bilipulse bilipulse-stack)
packages=(-p bilipulse-sim -p bilipulse-ingester -p bilipulse-windower -p bilipulse-gateway -p bilipulse -p bilipulse-stack)

fresh=0
for b in "${bins[@]}"; do
    [[ -x target/local/$b ]] || fresh=1
done

if [[ " $* " == *" --help "* || " $* " == *" -h "* ]] && ((fresh)); then
    sed -n '2,/^set -euo/p' "$0" | sed '$d;s/^# \{0,1\}//'
    echo "(the full option list is printed once the binaries are built: run it without --help)"
    exit 0
fi
if [[ " $* " != *" --help "* && " $* " != *" -h "* ]]; then
    log "installing nats-server and building the dashboard (pinned; skipped when up to date)"
    bash deploy/install-tools.sh --stack
fi
if ((fresh)); then
    # Measured on a fresh clone of a 2-core machine: see docs/deployment.md.
    log "building the stack's binaries (profile 'local'): about 4 minutes on 2 cores the first time, seconds afterwards"
else
    log "building the stack's binaries (profile 'local'; only what changed)"
fi
started=$SECONDS
# On a terminal cargo shows its progress bar (crates built of the total); elsewhere a line per
# crate.
cargo build --profile local --locked --bins "${packages[@]}"
log "built in $((SECONDS - started))s"

# exec: signals reach the supervisor itself, which stops its processes in order.
exec target/local/bilipulse-stack up --bin-dir target/local "$@"
