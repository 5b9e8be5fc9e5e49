#!/usr/bin/env bash
# Benchmarks bilipulse side by side with its peers, on this machine, and prints the figures
# (and writes them as JSON lines to target/bench/, with a PNG chart drawn by bilipulse-benchplot).
# See docs/benchmarks.md for recorded runs.
#
#   bash deploy/bench.sh [decode]        # decoding, side by side
#   bash deploy/bench.sh windows         # windowed counting, side by side
#   bash deploy/bench.sh pipeline        # the whole pipeline, swept up to saturation
#
# decode: one Bilibili stand-in in load mode (bilipulse-sim --replay: real command bodies from
# the fixtures, 20 per brotli frame, compressed once at start) feeds the same frames to
#   bilipulse        `bilipulse watch --count` (decode, normalise to RoomEvents, dedup)
#   bilibili-live-ws 6.3.1 (npm), the most used Node client: decode and JSON.parse per command
#   blivedm 0.1.1 (PyPI), the most used Python client: decode, json.loads, dispatch per command
# over 1 and 50 connections, flooding (as fast as each client reads) and at a fixed rate. Every
# client stops after the same number of commands; CPU (user + system) and peak RSS are measured
# from outside, by /usr/bin/time, the same way for all three. The peers are installed pinned into
# .tools/peers by deploy/install-tools.sh --bench; none of their code is in this repository.
#
# windows: one event log (the real captures normalised, over BENCH_ROOMS rooms, stamped as they
# are stored in JetStream) counted in 1 s and 10 s event-time windows by
#   the windower     (reading BILI_EVENTS from a real nats-server; its summaries read back)
#   redis_timeseries the prototype's design: Debian's redis-server + redis-timeseries 0.1.9,
#                    1-second buckets, "active chatters" as the keys of the last 10 s every 2 s
#   bytewax 0.21.1   event-time tumbling windows, one worker
# and each answer checked against the truth computed from the log (deploy/bench/windows/).
#
# pipeline: simulator (load mode, fresh ids) → ingester → nats-server → windower → gateway →
# WebSocket clients, each a process, one fresh world per rate (BENCH_PIPELINE_RATES, commands/s
# per room over BENCH_PIPELINE_ROOMS rooms): stored events/s, CPU-µs per event per process,
# latency from the danmaku's send time and from a window's close to the client, and which stage
# fell short first (services/gateway/benches/pipeline_load.rs).
#
# Environment: BILIPULSE_FIXTURES (default ../shared/fixtures/bilibili), BENCH_MESSAGES (commands
# per flood run, default 200000), BENCH_RATE_SECS (length of a fixed-rate run, default 10),
# BENCH_CLIENTS (which clients, default "bilipulse bilibili-live-ws blivedm"), BENCH_EVENTS
# (events in the windows log, default 500000), BENCH_ROOMS (its rooms, default 200).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
FIXTURES="${BILIPULSE_FIXTURES:-$ROOT/../shared/fixtures/bilibili}"
MESSAGES="${BENCH_MESSAGES:-200000}"
RATE_SECS="${BENCH_RATE_SECS:-10}"
PER_FRAME=20
OUT="$ROOT/target/bench"
PEERS="${BILIPULSE_TOOLS:-$ROOT/.tools}/peers"

# shellcheck source=deploy/lib/log.sh
source "$ROOT/deploy/lib/log.sh"

[[ -d "$FIXTURES/messages" ]] || die "no fixtures at $FIXTURES (set BILIPULSE_FIXTURES)"
[[ -x /usr/bin/time ]] || die "/usr/bin/time is needed (Debian: apt-get install time)"
for tool in jq bc column node python3; do
    command -v "$tool" >/dev/null || die "$tool is needed (Debian: apt-get install jq bc bsdextrautils nodejs python3)"
done
part="${1:-decode}"
case "$part" in
decode | windows | pipeline) ;;
*) die "unknown part '$part' (known: decode, windows, pipeline)" ;;
esac
mkdir -p "$OUT"
if [[ "$part" == windows ]]; then
    exec bash "$ROOT/deploy/bench/windows.sh"
fi
if [[ "$part" == pipeline ]]; then
    log "building the four services (release)"
    cargo build --release --locked -q -p bilipulse-sim -p bilipulse-ingester \
        -p bilipulse-windower -p bilipulse-gateway
    : >"$OUT/pipeline.jsonl"
    exec cargo bench --locked -q -p bilipulse-gateway --bench pipeline_load -- \
        --rooms "${BENCH_PIPELINE_ROOMS:-100}" --rates "${BENCH_PIPELINE_RATES:-100,200,300,400,600}" \
        --json "$OUT/pipeline.jsonl"
fi

log "building bilipulse-sim, bilipulse and bilipulse-benchplot (release)"
cargo build --release --locked -q -p bilipulse-sim -p bilipulse -p bilipulse-benchplot
if [[ " ${BENCH_CLIENTS:-x} " != " bilipulse " ]]; then
    bash deploy/install-tools.sh --bench >&2
fi

SIM_PID=
stop_sim() {
    if [[ -n "$SIM_PID" ]]; then
        kill "$SIM_PID" 2>/dev/null || true
        wait "$SIM_PID" 2>/dev/null || true
        SIM_PID=
    fi
}
trap stop_sim EXIT

# Starts the stand-in in load mode: $1 frames per connection, $2 frames/s (0 = flood). Sets
# SIM_URL.
start_sim() {
    local frames="$1" rate="$2" line="" out="$OUT/sim.out"
    stop_sim
    : >"$out"
    target/release/bilipulse-sim --listen 127.0.0.1:0 --rooms 1001:quiet \
        --lenient-auth --protover 3 --brotli-quality 6 --replay "$FIXTURES" \
        --replay-per-frame "$PER_FRAME" --replay-frames "$frames" --replay-rate "$rate" \
        >"$out" 2>>"$OUT/sim.log" &
    SIM_PID=$!
    # The simulator prints its base URL on stdout (among its log lines) once it listens.
    for _ in $(seq 300); do
        line=$(grep -m1 '^http://' "$out" || true)
        [[ -n "$line" ]] && break
        kill -0 "$SIM_PID" 2>/dev/null || die "the simulator exited (see $OUT/sim.log, $out)"
        sleep 0.1
    done
    [[ -n "$line" ]] || die "the simulator did not start within 30 s (see $out)"
    SIM_URL="ws://${line#http://}"
    SIM_URL="${SIM_URL%/}/sub"
}

# Runs one client under /usr/bin/time; prints one JSON line with the figures.
# $1 client, $2 connections, $3 commands in total, $4 mode label.
run_client() {
    local client="$1" conns="$2" total="$3" mode="$4" timing="$OUT/time.txt" report
    local -a cmd
    case "$client" in
    bilipulse) cmd=(target/release/bilipulse watch 1001 --url "$SIM_URL" --count
        --conns "$conns" --messages "$total") ;;
    bilibili-live-ws) cmd=(node "$ROOT/deploy/bench/peers/live-ws.mjs") ;;
    blivedm) cmd=("$PEERS/venv/bin/python" "$ROOT/deploy/bench/peers/blivedm_count.py") ;;
    esac
    if [[ "$client" != bilipulse ]]; then
        cmd+=(--url "$SIM_URL" --room 1001 --conns "$conns" --messages "$total")
    fi
    report=$(BILIPULSE_PEERS="$PEERS" /usr/bin/time -f '%U %S %M %e' -o "$timing" \
        "${cmd[@]}" 2>>"$OUT/clients.log") || die "$client failed (see $OUT/clients.log)"
    local user sys rss wall got
    read -r user sys rss wall <"$timing"
    got=$(jq -r '.messages' <<<"$report")
    ((got >= total)) || die "$client counted $got of $total commands"
    jq -cn --arg client "$client" --arg mode "$mode" --argjson conns "$conns" \
        --argjson messages "$got" --argjson cpu "$(echo "$user + $sys" | bc -l)" \
        --argjson rss "$rss" --argjson wall "$wall" \
        '{client: $client, mode: $mode, conns: $conns, messages: $messages,
          cpu_s: $cpu, wall_s: $wall, max_rss_kib: $rss,
          msgs_per_cpu_s: (if $cpu > 0 then ($messages / $cpu | floor) else null end)}'
}

results="$OUT/decode.jsonl"
: >"$results"
read -r -a clients <<<"${BENCH_CLIENTS:-bilipulse bilibili-live-ws blivedm}"
for conns in 1 50; do
    # Flood: every client gets the same frames as fast as it reads them.
    frames=$((MESSAGES / PER_FRAME / conns))
    for client in "${clients[@]}"; do
        start_sim "$frames" 0
        log "flood, $conns connection(s), $client: $((frames * PER_FRAME * conns)) commands"
        run_client "$client" "$conns" "$((frames * PER_FRAME * conns))" flood | tee -a "$results"
    done
    # Fixed rate: 1 000 commands/s in all, for RATE_SECS; what a client costs at a steady load.
    rate=$(echo "1000 / $PER_FRAME / $conns" | bc -l)
    frames=$(printf '%.0f' "$(echo "$rate * $RATE_SECS" | bc -l)")
    for client in "${clients[@]}"; do
        start_sim "$frames" "$rate"
        log "1000/s, $conns connection(s), $client"
        run_client "$client" "$conns" "$((frames * PER_FRAME * conns))" rate-1000 | tee -a "$results"
    done
done
stop_sim

# The table, with each client's ratio to the best peer in the same case.
jq -rs '
  group_by([.mode, .conns]) | map(
    (map(select(.client != "bilipulse")) | map(.msgs_per_cpu_s) | max) as $best
    | .[] | . + {vs_best_peer: (if .client == "bilipulse" and $best > 0
                                then (.msgs_per_cpu_s / $best * 10 | round / 10) else null end)})
  | (["mode", "conns", "client", "commands", "CPU s", "commands per CPU-s", "peak RSS MiB",
      "× best peer"] | @tsv),
    (.[] | [.mode, .conns, .client, .messages, (.cpu_s * 100 | round / 100), .msgs_per_cpu_s,
            (.max_rss_kib / 1024 * 10 | round / 10), (.vs_best_peer // "")] | @tsv)
' "$results" | column -t -s $'\t'
target/release/bilipulse-benchplot --decode "$results" --out "$OUT/decode.png" \
    --caption "$(nproc) cores, $(date -u +%Y-%m-%d)"
log "figures: $results; chart: $OUT/decode.png (docs/bench-decode.png is a recorded copy)"
