#!/usr/bin/env bash
# Runs the fault-matrix scenarios (real nats-server, the simulator over sockets, the services as
# processes) and prints their figures as the table of docs/reliability.md: per scenario, what
# the simulator delivered, what JetStream holds, lost, duplicated, and the coverage gaps the
# scenario excuses (their count and seconds, margins included). The same tests run in the
# suite (deploy/test.sh); here only their figures are collected. Takes ≈ 6 minutes on 2 cores.
#
#   bash deploy/fault-matrix.sh            # every scenario
#   bash deploy/fault-matrix.sh 'test(/outage/)'   # a nextest filter expression
#
# Each scenario prints one line `fault-matrix scenario=<test> key=value…` (the ingester tests'
# Audit, the windower tests' assert_no_duplicates); the raw output is kept in
# target/fault-matrix.log.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash deploy/install-tools.sh --stack >&2

FILTER="${1:-binary(disk_full) | binary(nats_outage) | binary(rehearsal) | binary(scaling) | binary(shutdown) | binary(steady_state) | binary(exactly_once) | binary(rescale)}"
LOG="$ROOT/target/fault-matrix.log"
mkdir -p "$ROOT/target"
# CI=true: a scenario whose prerequisite is missing fails instead of leaving its row out. The
# CLI package is built for its binary (the rehearsal recounts with it); none of its tests match.
set +e
CI=true cargo nextest run --locked -p bilipulse-ingester -p bilipulse-windower -p bilipulse \
    -E "$FILTER" --no-capture --test-threads 1 >"$LOG" 2>&1
status=$?
set -e

# One table per family of line: the ingester audits and the windower summary checks.
grep -o 'fault-matrix .*' "$LOG" | awk '
function row(keys,   i, out) {
    out = "|"
    for (i = 1; i <= n[keys]; i++) out = out " " v[cols[keys, i]] " |"
    return out
}
{
    delete v
    for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    fam = ("delivered" in v) ? "events" : "summaries"
    if (!(fam in n)) {
        if (fam == "events") list = "scenario delivered stored lost duplicated misfiled gaps gap_room_s"
        else list = "scenario replicas summaries windows duplicated recount_disagreements"
        n[fam] = split(list, tmp, " ")
        for (i = 1; i <= n[fam]; i++) cols[fam, i] = tmp[i]
        head[fam] = "|"; sep[fam] = "|"
        for (i = 1; i <= n[fam]; i++) { head[fam] = head[fam] " " tmp[i] " |"; sep[fam] = sep[fam] "---|" }
        order[++families] = fam
    }
    if (!("replicas" in v)) v["replicas"] = "-"
    rows[fam] = rows[fam] row(fam) "\n"
}
END {
    for (f = 1; f <= families; f++) {
        fam = order[f]
        printf "\n%s\n%s\n%s", head[fam], sep[fam], rows[fam]
    }
}'
if [[ $status -ne 0 ]]; then
    echo "fault-matrix: some scenario failed (exit $status); see $LOG" >&2
    exit "$status"
fi
echo "fault-matrix: all scenarios passed; raw output in $LOG" >&2
