#!/usr/bin/env bash
# Runs the whole nextest suite N times in a row (default 20), with no retry (none is configured
# in .config/nextest.toml), stopping at the first failing run. This is how flakiness is hunted:
# a test that fails once in N runs is a bug, and the log of the failing run is kept.
#
#   bash deploy/repeat-tests.sh [runs]
#
# Logs: target/repeat-tests/run-<i>.log; a summary line per run on stderr. Takes ≈ 5.5 minutes
# per run on 2 cores (after the first build).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
runs="${1:-20}"
dir="$ROOT/target/repeat-tests"
mkdir -p "$dir"
bash deploy/install-tools.sh >&2
cargo nextest run --workspace --locked --no-run >&2

for ((i = 1; i <= runs; i++)); do
    t0=$SECONDS
    log="$dir/run-$i.log"
    # CI=true: a test whose prerequisite is missing fails instead of skipping and passing.
    if CI=true cargo nextest run --workspace --locked --no-fail-fast >"$log" 2>&1; then
        printf 'repeat-tests: run %d/%d passed in %ds (%s)\n' "$i" "$runs" "$((SECONDS - t0))" \
            "$(grep -Eo '[0-9]+ tests run: [0-9]+ passed[^)]*' "$log" | tail -1)" >&2
    else
        printf 'repeat-tests: run %d/%d FAILED after %ds; log: %s\n' "$i" "$runs" "$((SECONDS - t0))" "$log" >&2
        grep -E '^\s+(FAIL|TIMEOUT|SIGSEGV|SIGABRT)' "$log" >&2 || true
        exit 1
    fi
done
printf 'repeat-tests: %d runs in a row passed\n' "$runs" >&2
