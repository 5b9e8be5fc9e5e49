#!/usr/bin/env bash
# `deploy/bench.sh windows`: windowed counting, side by side (see the header of deploy/bench.sh).
#
# 1. The windower's load bench stores BENCH_EVENTS events over BENCH_ROOMS rooms in a real
#    nats-server, writing them as the event log, runs a windower over them and dumps its 1s/10s
#    summaries once every room's last 10 s window is out.
# 2. The prototype's design (redis_timeseries_count.py) counts the same log into a private
#    Debian redis-server on a Unix socket; bytewax_count.py counts it with bytewax.
# 3. compare.py checks all three answers against the truth computed from the log.
#
# CPU: each counting process's user + system time, and separately that of the store it reads
# or writes (nats-server while the windower reads; redis-server while the script runs): read
# from /proc, the same way for all. Figures: target/bench/windows.jsonl and windows.png.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
EVENTS="${BENCH_EVENTS:-500000}"
ROOMS="${BENCH_ROOMS:-200}"
OUT="$ROOT/target/bench"
DIR="$OUT/windows"
SCRIPTS="$ROOT/deploy/bench/windows"
VENV="${BILIPULSE_TOOLS:-$ROOT/.tools}/peers/windows-venv"

# shellcheck source=deploy/lib/log.sh
source "$ROOT/deploy/lib/log.sh"

for tool in jq bc column python3; do
    command -v "$tool" >/dev/null || die "$tool is needed (Debian: apt-get install jq bc bsdextrautils python3)"
done
[[ -x /usr/bin/time ]] || die "/usr/bin/time is needed (Debian: apt-get install time)"
bash deploy/install-tools.sh --bench >&2
command -v redis-server >/dev/null || die "redis-server is needed (deploy/install-tools.sh --bench installs it)"
[[ -x "$VENV/bin/python" ]] || die "no venv at $VENV (deploy/install-tools.sh --bench)"
rm -rf "$DIR"
mkdir -p "$DIR"

# CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat.
cpu_of() {
    local ticks
    ticks=$(awk '{print $14 + $15}' "/proc/$1/stat")
    echo "$ticks / $(getconf CLK_TCK)" | bc -l
}

# Runs a counting script under /usr/bin/time; prints its figures as one JSON line.
# $1 system name, $2 CPU seconds of its store (or 0), then the command.
figures() {
    local system="$1" store_cpu="$2" timing="$DIR/$1.time"
    shift 2
    local report user sys rss wall
    report=$(/usr/bin/time -f '%U %S %M %e' -o "$timing" "$@" 2>>"$DIR/$system.log" | tail -1) ||
        die "$system failed (see $DIR/$system.log)"
    read -r user sys rss wall <"$timing"
    jq -cn --arg system "$system" --argjson events "$(jq '.events' <<<"$report")" \
        --argjson cpu "$(echo "$user + $sys" | bc -l)" --argjson store "$store_cpu" \
        --argjson rss "$rss" --argjson wall "$wall" \
        '{system: $system, events: $events, cpu_s: $cpu, store_cpu_s: $store,
          max_rss_kib: $rss, wall_s: $wall}'
}

log "windower: $EVENTS events over $ROOMS rooms (cargo bench, release)"
cargo bench -q --locked -p bilipulse-windower --bench windower_load -- \
    log "$EVENTS" "$ROOMS" "$DIR/events.jsonl" "$DIR/windower.jsonl" | tee "$DIR/windower.txt" >&2
w=$(grep '^{' "$DIR/windower.txt" | tail -1)
results="$OUT/windows.jsonl"
jq -c '{system, events, cpu_s, store_cpu_s: .nats_cpu_s, max_rss_kib, wall_s}' <<<"$w" >"$results"

log "redis_timeseries: the prototype's design over Debian's redis-server"
sock="$DIR/redis.sock"
redis-server --port 0 --unixsocket "$sock" --unixsocketperm 700 --save '' --appendonly no \
    --dir "$DIR" --logfile "$DIR/redis-server.log" --daemonize no &
redis_pid=$!
trap 'kill "$redis_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    [[ -S "$sock" ]] && break
    kill -0 "$redis_pid" 2>/dev/null || die "redis-server exited (see $DIR/redis-server.log)"
    sleep 0.1
done
[[ -S "$sock" ]] || die "redis-server did not open $sock within 10 s"
r0=$(cpu_of "$redis_pid")
line=$(figures redis_timeseries 0 "$VENV/bin/python" "$SCRIPTS/redis_timeseries_count.py" \
    --log "$DIR/events.jsonl" --redis-url "unix://$sock" --out "$DIR/redis_timeseries.jsonl")
r1=$(cpu_of "$redis_pid")
jq -c --argjson store "$(echo "$r1 - $r0" | bc -l)" '.store_cpu_s = $store' <<<"$line" >>"$results"
kill "$redis_pid"
wait "$redis_pid" 2>/dev/null || true
trap - EXIT

log "bytewax: event-time tumbling windows, one worker"
figures bytewax 0 "$VENV/bin/python" "$SCRIPTS/bytewax_count.py" \
    --log "$DIR/events.jsonl" --out "$DIR/bytewax.jsonl" >>"$results"

log "checking every answer against the truth computed from the log"
python3 "$SCRIPTS/compare.py" --log "$DIR/events.jsonl" --out "windower=$DIR/windower.jsonl" \
    --out "redis_timeseries=$DIR/redis_timeseries.jsonl" --out "bytewax=$DIR/bytewax.jsonl" \
    >"$DIR/verdicts.jsonl"

# One line per system: its figures and its verdict per width.
jq -sc --slurpfile v "$DIR/verdicts.jsonl" '
  .[] | . as $f
  | ($v | map(select(.system == $f.system))) as $mine
  | $f + {events_per_cpu_s: ($f.events / $f.cpu_s | floor),
          events_per_cpu_s_with_store: ($f.events / ($f.cpu_s + $f.store_cpu_s) | floor),
          right_1s: ($mine | map(select(.window == "1s")) | .[0].right),
          right_10s: ($mine | map(select(.window == "10s")) | .[0].right)}
' "$results" >"$results.tmp"
mv "$results.tmp" "$results"
jq -rs '(["system", "events", "CPU s", "store CPU s", "events per CPU-s", "... with store",
          "peak RSS MiB", "1s right", "10s right"] | @tsv),
        (.[] | [.system, .events, (.cpu_s * 100 | round / 100), (.store_cpu_s * 100 | round / 100),
          .events_per_cpu_s, .events_per_cpu_s_with_store, (.max_rss_kib / 1024 * 10 | round / 10),
          .right_1s, .right_10s] | @tsv)' "$results" | column -t -s $'\t'
jq -r '"\(.system) \(.window): \(if .right then "right" else "WRONG: \(.example)" end)"' \
    "$DIR/verdicts.jsonl"
cargo build --release --locked -q -p bilipulse-benchplot
target/release/bilipulse-benchplot --windows "$results" --out "$OUT/windows.png" \
    --caption "$(nproc) cores, $(date -u +%Y-%m-%d)"
log "figures: $results, verdicts: $DIR/verdicts.jsonl; chart: $OUT/windows.png"
