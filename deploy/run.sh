#!/usr/bin/env bash
# Starts the whole bilipulse system on this machine, everything on 127.0.0.1:
#   nats-server with JetStream (data in .data/nats), the Bilibili simulator as the source,
#   two ingesters sharing the rooms, a windower computing the summaries, the gateway serving the
#   dashboard, and the default rooms registered; then waits until the first summary is
#   published and prints the dashboard's URL.
# Ctrl-C stops everything (ingesters first, then windowers, so both can still reach NATS).
# The ingesters log in to the simulator (identities unmasked); `--anonymous` connects them
# anonymously instead. Running it again reuses the data directory. Ports can be moved with the
# variables below.
set -euo pipefail

# Started in the background by another script (`bash deploy/run.sh &`), bash inherits SIGINT
# ignored and cannot trap a signal ignored on entry: start again with it restored, so that SIGINT
# to the process group stops everything as Ctrl-C does. (Needs GNU env; SIGTERM works anyway.)
if [[ $(trap -p INT) == "trap -- '' SIGINT" ]] && env --default-signal=INT true 2>/dev/null; then
    exec env --default-signal=INT "$BASH" "$0" "$@"
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

NATS_PORT=${BILIPULSE_NATS_PORT:-4222}
NATS_MONITOR_PORT=${BILIPULSE_NATS_MONITOR_PORT:-8222}
SIM_ADDR=${BILIPULSE_SIM_ADDR:-127.0.0.1:9400}
INGESTERS=${BILIPULSE_INGESTERS:-2}
WINDOWERS=${BILIPULSE_WINDOWERS:-1}
# The gateway: dashboard, /ws and /api.
GATEWAY_ADDR=${BILIPULSE_GATEWAY_ADDR:-127.0.0.1:8080}
# Admin ports: the ingesters' from base+1, the windowers' right after them, then the gateway's.
ADMIN_BASE_PORT=${BILIPULSE_ADMIN_BASE_PORT:-9090}
# Seconds to wait for the first summary once the rooms are registered.
SUMMARY_TIMEOUT=${BILIPULSE_SUMMARY_TIMEOUT:-90}
# real_id[/short_id]:profile[:commands per second]
SIM_ROOMS=${BILIPULSE_SIM_ROOMS:-21452505/5269:busy,865138:normal,22603245:busy:40,1017:quiet,21396545:sessions}
ROOMS_TO_ADD=${BILIPULSE_ROOMS:-5269 865138 22603245 1017 21396545}
# The room of the examples printed at the end: the first simulated room's real id (subjects
# carry real ids, never short ones: 21452505, not 5269).
EXAMPLE_ROOM=${SIM_ROOMS%%[/:,]*}

log() { printf '\033[1m[run]\033[0m %s\n' "$*"; }

# The ingesters log in to the simulator with a simulated account, so viewers' identities are not
# masked (as with a real login cookie on Bilibili); --anonymous (or BILIPULSE_ANONYMOUS=1) shows
# what an anonymous connection looks like instead: masked names, distinct chatters by CRC32 only.
ANONYMOUS=${BILIPULSE_ANONYMOUS:-0}
for arg in "$@"; do
    case $arg in
    --anonymous) ANONYMOUS=1 ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d'
        exit 0
        ;;
    *)
        log "unknown argument '$arg' (known: --anonymous, --help)"
        exit 2
        ;;
    esac
done
SIM_SESSDATA="local%2Csessdata%2C7001"
SIM_UID=7001

for var in INGESTERS WINDOWERS SUMMARY_TIMEOUT; do
    if ! [[ ${!var} =~ ^[1-9][0-9]*$ ]]; then
        log "BILIPULSE_$var must be a positive number, not '${!var}'"
        exit 2
    fi
done

data="$root/.data"
logs="$data/logs"
mkdir -p "$data/nats" "$logs"

# Children run in their own sessions: Ctrl-C reaches only this script, which then stops them in
# order (ingesters first, while NATS is still there to hand rooms over and drain into; then the
# windowers, which commit their key groups' final checkpoints into NATS; NATS last).
spawn() { setsid "$@" & }

# Waits until a command succeeds, or fails after $2 seconds naming $1 (or at once if one of the
# started processes has exited).
wait_for() {
    local what=$1 seconds=$2
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        check_alive
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
cargo build --release --locked -p bilipulse-sim -p bilipulse-ingester -p bilipulse-windower \
    -p bilipulse-gateway -p bilipulse
bin="$root/target/release"

ingester_pids=()
windower_pids=()
other_pids=()  # NATS, the simulator and the gateway
helper_pids=() # this script's own short-lived watchers
# Stops a group of processes and waits until all of them have exited.
# shellcheck disable=SC2317 # called from the traps
stop_all() {
    (($#)) || return 0
    kill -TERM "$@" 2>/dev/null || true
    wait "$@" 2>/dev/null || true
}
# Stops everything in order and exits with $1: 0 after Ctrl-C or SIGTERM, else the failure's.
# shellcheck disable=SC2317 # called from the traps
stop() {
    trap - EXIT INT TERM
    log "stopping"
    stop_all "${helper_pids[@]}"
    stop_all "${ingester_pids[@]}"
    stop_all "${windower_pids[@]}"
    stop_all "${other_pids[@]}"
    log "stopped"
    exit "$1"
}
trap 'stop $?' EXIT
trap 'stop 0' INT TERM

# Fails the run (stopping everything) if one of the started processes has exited.
check_alive() {
    local pid
    for pid in "${ingester_pids[@]}" "${windower_pids[@]}" "${other_pids[@]}"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "a process exited unexpectedly; see $logs"
            exit 1
        fi
    done
}

log "starting nats-server (JetStream) on 127.0.0.1:$NATS_PORT"
spawn .tools/nats/bin/nats-server -js -a 127.0.0.1 -p "$NATS_PORT" -m "$NATS_MONITOR_PORT" \
    -sd "$data/nats" >"$logs/nats.log" 2>&1
other_pids+=($!)
wait_for "nats-server" 20 curl -sf --max-time 2 "http://127.0.0.1:$NATS_MONITOR_PORT/healthz"

log "starting the Bilibili simulator on $SIM_ADDR"
spawn "$bin/bilipulse-sim" --listen "$SIM_ADDR" --rooms "$SIM_ROOMS" --truth-log "$data/sim-truth.jsonl" \
    --accounts "$SIM_SESSDATA=$SIM_UID:bilipulse-local" >"$logs/sim.log" 2>&1
other_pids+=($!)
wait_for "bilipulse-sim" 20 curl -sf --max-time 2 "http://$SIM_ADDR/x/frontend/finger/spi"

export BILIPULSE_NATS_URL="nats://127.0.0.1:$NATS_PORT"
export BILIPULSE_BILI_API_BASE="http://$SIM_ADDR"
export BILIPULSE_BILI_LIVE_BASE="http://$SIM_ADDR"
export BILIPULSE_BILI_WS_SCHEME=ws
login=()
if [[ $ANONYMOUS == 1 ]]; then
    log "ingesters connect anonymously (--anonymous): identities will be masked"
else
    (umask 077 && printf '%s\n' "$SIM_SESSDATA" >"$data/sim-sessdata")
    login=(--bili-cookie-file "$data/sim-sessdata" --bili-uid "$SIM_UID")
fi

for ((i = 0; i < INGESTERS; i++)); do
    port=$((ADMIN_BASE_PORT + 1 + i))
    log "starting ingester-$i (admin http://127.0.0.1:$port/metrics)"
    spawn "$bin/bilipulse-ingester" --id "ingester-$i" --admin-addr "127.0.0.1:$port" "${login[@]}" \
        >"$logs/ingester-$i.log" 2>&1
    ingester_pids+=($!)
    wait_for "ingester-$i" 30 curl -sf --max-time 2 "http://127.0.0.1:$port/readyz"
done

windower_base=$((ADMIN_BASE_PORT + INGESTERS))
for ((i = 0; i < WINDOWERS; i++)); do
    port=$((windower_base + 1 + i))
    log "starting windower-$i (admin http://127.0.0.1:$port/metrics)"
    spawn "$bin/bilipulse-windower" --id "windower-$i" --admin-addr "127.0.0.1:$port" \
        >"$logs/windower-$i.log" 2>&1
    windower_pids+=($!)
    wait_for "windower-$i" 30 curl -sf --max-time 2 "http://127.0.0.1:$port/readyz"
done

# The token for adding and removing rooms from the dashboard: made once, kept in .data.
token_file="$data/api-token"
if [[ ! -s "$token_file" ]]; then
    (umask 077 && head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$token_file")
fi
gateway_admin=$((windower_base + WINDOWERS + 1))
log "starting the gateway on http://$GATEWAY_ADDR (admin http://127.0.0.1:$gateway_admin/metrics)"
spawn "$bin/bilipulse-gateway" --listen "$GATEWAY_ADDR" --admin-addr "127.0.0.1:$gateway_admin" \
    --api-token-file "$token_file" >"$logs/gateway.log" 2>&1
other_pids+=($!)
wait_for "bilipulse-gateway" 30 curl -sf --max-time 2 "http://127.0.0.1:$gateway_admin/readyz"

log "registering rooms: $ROOMS_TO_ADD"
# shellcheck disable=SC2086
"$bin/bilipulse" rooms add $ROOMS_TO_ADD --label local-sim

# A window's summary is published once the window has ended, the windower's allowed lateness
# (3 s) has passed and its key group has committed (every 1 s): wait for the first one.
log "waiting for the first summary (at most ${SUMMARY_TIMEOUT}s)"
first="$logs/first-summary.json"
"$bin/bilipulse" tail --count 1 'bili.summary.>' >"$first" 2>"$logs/first-summary.err" &
helper_pids+=($!)
deadline=$((SECONDS + SUMMARY_TIMEOUT))
while kill -0 "${helper_pids[0]}" 2>/dev/null; do
    check_alive
    if ((SECONDS >= deadline)); then
        log "no summary within ${SUMMARY_TIMEOUT}s; see $logs/windower-*.log"
        exit 1
    fi
    sleep 0.2
done
if ! wait "${helper_pids[0]}" || [[ ! -s "$first" ]]; then
    log "could not watch for summaries; see $logs/first-summary.err"
    exit 1
fi
helper_pids=()
first_subject=$(sed -n 's/^{"subject":"\([^"]*\)".*/\1/p' "$first")
log "summaries are flowing (the first: ${first_subject:-see $first})"

# The default URL needs no flag; another port does.
nats=""
if [[ $NATS_PORT != 4222 ]]; then
    nats=" --nats-url nats://127.0.0.1:$NATS_PORT"
fi
# "port P" or "ports P..Q" for $2 processes from port $1.
ports() { if (($2 == 1)); then echo "port $1"; else echo "ports $1..$(($1 + $2 - 1))"; fi; }
cat <<EOF

bilipulse is running (logs in $logs):
  NATS        nats://127.0.0.1:$NATS_PORT   (monitoring http://127.0.0.1:$NATS_MONITOR_PORT)
  simulator   http://$SIM_ADDR              (ground truth in $data/sim-truth.jsonl)
  ingesters   $INGESTERS, admin on $(ports $((ADMIN_BASE_PORT + 1)) "$INGESTERS")
  windowers   $WINDOWERS, admin on $(ports $((windower_base + 1)) "$WINDOWERS")
  gateway     http://$GATEWAY_ADDR/ws and /api (admin on port $gateway_admin)

Dashboard:    http://$GATEWAY_ADDR/
  adding and removing rooms there needs the API token in $token_file
  live summaries as Server-Sent Events:
  curl -N 'http://$GATEWAY_ADDR/api/rooms/$EXAMPLE_ROOM/stream?channels=1s'

Watch it:
  $bin/bilipulse tail$nats                           # every event, as JSON lines
  $bin/bilipulse tail$nats 'bili.status.>'           # coverage reports
  $bin/bilipulse rooms ls$nats                       # rooms, owners, states
  $bin/bilipulse tail$nats 'bili.summary.>'          # window summaries: 1s, 10s, 1m, 1h
  $bin/bilipulse tail$nats 'bili.summary.$EXAMPLE_ROOM.10s' # one room (real id), one width
  $bin/bilipulse tail$nats 'bili.session.>'          # live sessions, once a room goes live
  $bin/bilipulse recount$nats --room $EXAMPLE_ROOM --window 1m --compare
      # recounts the room from BILI_EVENTS and checks the windower's summaries against it
      # (windows that ended less than --settle, default 10 s, ago are not due yet and left out)

Ctrl-C stops everything.
EOF

# Runs until Ctrl-C, or until one of the processes dies (then everything stops).
wait -n "${ingester_pids[@]}" "${windower_pids[@]}" "${other_pids[@]}" || true
log "a process exited unexpectedly; see $logs"
exit 1
