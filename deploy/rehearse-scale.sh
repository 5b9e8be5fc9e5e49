#!/usr/bin/env bash
# Rehearses on the running local stack what `kubectl scale` and a crashed pod do in the cluster,
# and prints how long each step takes for the rooms (figures: docs/reliability.md):
#
#   1. deploy/scale.sh ingester +1   until ingester-2 owns rooms and every room is connected
#   2. deploy/scale.sh ingester -1   until ingester-2 is gone and every room is connected again
#   3. kill -9 of ingester-1         until it is restarted and every room is connected again
#   4. deploy/scale.sh windower +1, then -1
#
# Start the stack first (bash deploy/run.sh, e.g. with --rooms 45 for fifty rooms). Losses are
# the ingesters' own count of events they could not publish (`bilipulse rooms ls`), summed over
# the rooms; a room's coverage gap while nobody holds it shows there as reconnects, not losses.
# BILIPULSE_BIN_DIR (target/local) and BILIPULSE_STACK_CONTROL_ADDR as for deploy/scale.sh.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${BILIPULSE_BIN_DIR:-$root/target/local}

# "<rooms> <connected> <owners> <lost> <age>" from `bilipulse rooms ls --json`; age is the
# oldest room's status report age in ms (a report older than a crash says nothing about it).
state() {
    "$bin/bilipulse" rooms ls --json | python3 -c '
import json, sys
rooms = [json.loads(line) for line in sys.stdin if line.strip()]
owners = sorted({r["owner"] or "-" for r in rooms})
print(len(rooms), sum(r["state"] == "connected" for r in rooms), ",".join(owners),
      sum(r["events_lost"] or 0 for r in rooms), max(r["status_age_ms"] or 10**9 for r in rooms))'
}

# Waits until `state` satisfies the Python condition $2 (over rooms, connected, owners, lost,
# age, and elapsed: ms since $1, an epoch in ns), then prints the elapsed time.
until_state() {
    local since=$1 cond=$2 s
    for _ in $(seq 1 600); do
        s=$(state)
        if python3 -c "
elapsed = ($(date +%s%N) - $since) // 1000000
rooms, connected, owners, lost, age = '$s'.split()
rooms, connected, lost, age, owners = int(rooms), int(connected), int(lost), int(age), owners.split(',')
raise SystemExit(0 if ($cond) else 1)"; then
            echo "$(((($(date +%s%N) - since) / 1000000)))ms ($s)"
            return
        fi
        sleep 0.1
    done
    echo "not within 60s ($s)"
    return 1
}

ms_since() { echo "$((($(date +%s%N) - $1) / 1000000))ms"; }

read -r rooms connected owners lost _ <<<"$(state)"
echo "start: $rooms rooms, $connected connected, owners $owners, lost $lost"

t=$(date +%s%N)
"$root/deploy/scale.sh" ingester +1 >/dev/null
echo "1. scale ingester +1: ready in $(ms_since "$t"); rooms moved and all connected after $(until_state "$t" "'ingester-2' in owners and connected == rooms")"

t=$(date +%s%N)
"$root/deploy/scale.sh" ingester -1 >/dev/null
echo "2. scale ingester -1: exited in $(ms_since "$t"); all connected without it after $(until_state "$t" "'ingester-2' not in owners and connected == rooms")"

pid=$("$root/deploy/scale.sh" ps | awk '$1 == "ingester-1" {print $2}')
t=$(date +%s%N)
kill -9 "$pid"
echo "3. kill -9 ingester-1 (pid $pid): every room reported connected since the crash after $(until_state "$t" "connected == rooms and age < elapsed")"
"$root/deploy/scale.sh" ps | awk '$1 == "ingester-1"'

t=$(date +%s%N)
"$root/deploy/scale.sh" windower +1 >/dev/null
echo "4. scale windower +1: ready in $(ms_since "$t")"
t=$(date +%s%N)
"$root/deploy/scale.sh" windower -1 >/dev/null
echo "   scale windower -1: exited in $(ms_since "$t")"
echo "end: $(state)"
