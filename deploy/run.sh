#!/usr/bin/env bash
# Starts the whole bilipulse system on this machine, everything on 127.0.0.1:
#   nats-server with JetStream (data in .data/nats), the Bilibili simulator as the source,
#   two ingesters sharing the rooms, and the default rooms registered.
# Ctrl-C stops everything (ingesters first, so they can still reach NATS). Running it again
# reuses the data directory. Ports can be moved with the variables below.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

NATS_PORT=${BILIPULSE_NATS_PORT:-4222}
NATS_MONITOR_PORT=${BILIPULSE_NATS_MONITOR_PORT:-8222}
SIM_ADDR=${BILIPULSE_SIM_ADDR:-127.0.0.1:9400}
INGESTERS=${BILIPULSE_INGESTERS:-2}
ADMIN_BASE_PORT=${BILIPULSE_ADMIN_BASE_PORT:-9090}
# real_id[/short_id]:profile[:commands per second]
SIM_ROOMS=${BILIPULSE_SIM_ROOMS:-21452505/5269:busy,865138:normal,22603245:busy:40,1017:quiet,21396545:sessions}
ROOMS_TO_ADD=${BILIPULSE_ROOMS:-5269 865138 22603245 1017 21396545}

data="$root/.data"
logs="$data/logs"
mkdir -p "$data/nats" "$logs"

# Children run in their own sessions: Ctrl-C reaches only this script, which then stops them in
# order (ingesters first, while NATS is still there to hand rooms over and drain into).
spawn() { setsid "$@" & }

log() { printf '\033[1m[run]\033[0m %s\n' "$*"; }

# Waits until a command succeeds, or fails after $2 seconds naming $1.
wait_for() {
    local what=$1 seconds=$2
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            log "$what did not come up within ${seconds}s; see $logs"
            exit 1
        fi
        sleep 0.2
    done
}

log "installing pinned tools"
bash deploy/install-tools.sh
log "building release binaries"
cargo build --release --locked -p bilipulse-sim -p bilipulse-ingester -p bilipulse
bin="$root/target/release"

ingester_pids=()
other_pids=()
stop() {
    trap - EXIT INT TERM
    log "stopping"
    if ((${#ingester_pids[@]})); then
        kill -TERM "${ingester_pids[@]}" 2>/dev/null || true
        wait "${ingester_pids[@]}" 2>/dev/null || true
    fi
    if ((${#other_pids[@]})); then
        kill -TERM "${other_pids[@]}" 2>/dev/null || true
        wait "${other_pids[@]}" 2>/dev/null || true
    fi
    log "stopped"
    exit 0
}
trap stop EXIT INT TERM

log "starting nats-server (JetStream) on 127.0.0.1:$NATS_PORT"
spawn .tools/nats/bin/nats-server -js -a 127.0.0.1 -p "$NATS_PORT" -m "$NATS_MONITOR_PORT" \
    -sd "$data/nats" >"$logs/nats.log" 2>&1
other_pids+=($!)
wait_for "nats-server" 20 curl -sf "http://127.0.0.1:$NATS_MONITOR_PORT/healthz"

log "starting the Bilibili simulator on $SIM_ADDR"
spawn "$bin/bilipulse-sim" --listen "$SIM_ADDR" --rooms "$SIM_ROOMS" --truth-log "$data/sim-truth.jsonl" \
    >"$logs/sim.log" 2>&1
other_pids+=($!)
wait_for "bilipulse-sim" 20 curl -sf "http://$SIM_ADDR/x/frontend/finger/spi"

export BILIPULSE_NATS_URL="nats://127.0.0.1:$NATS_PORT"
export BILIPULSE_BILI_API_BASE="http://$SIM_ADDR"
export BILIPULSE_BILI_LIVE_BASE="http://$SIM_ADDR"
export BILIPULSE_BILI_WS_SCHEME=ws

for ((i = 0; i < INGESTERS; i++)); do
    port=$((ADMIN_BASE_PORT + 1 + i))
    log "starting ingester-$i (admin http://127.0.0.1:$port/metrics)"
    spawn "$bin/bilipulse-ingester" --id "ingester-$i" --admin-addr "127.0.0.1:$port" \
        >"$logs/ingester-$i.log" 2>&1
    ingester_pids+=($!)
    wait_for "ingester-$i" 30 curl -sf "http://127.0.0.1:$port/readyz"
done

log "registering rooms: $ROOMS_TO_ADD"
# shellcheck disable=SC2086
"$bin/bilipulse" rooms add $ROOMS_TO_ADD --label local-sim

cat <<EOF

bilipulse is running (logs in $logs):
  NATS        nats://127.0.0.1:$NATS_PORT   (monitoring http://127.0.0.1:$NATS_MONITOR_PORT)
  simulator   http://$SIM_ADDR              (ground truth in $data/sim-truth.jsonl)
  ingesters   $INGESTERS, admin on ports $((ADMIN_BASE_PORT + 1))..$((ADMIN_BASE_PORT + INGESTERS))

Watch it:
  $bin/bilipulse tail --nats-url nats://127.0.0.1:$NATS_PORT                 # every event, as JSON lines
  $bin/bilipulse tail --nats-url nats://127.0.0.1:$NATS_PORT 'bili.status.>' # coverage reports
  $bin/bilipulse rooms ls --nats-url nats://127.0.0.1:$NATS_PORT             # rooms, owners, states

Ctrl-C stops everything.
EOF

# Runs until Ctrl-C, or until one of the processes dies (then everything stops).
wait -n "${ingester_pids[@]}" "${other_pids[@]}" || true
log "a process exited unexpectedly; see $logs"
exit 1
