#!/usr/bin/env bash
# Runs every cargo-fuzz target of the project for N minutes each (default 10), on stable Rust
# (`-s none`: no sanitizer, libFuzzer's coverage instrumentation only), and reports what each
# found. Not part of the test command: it is long by nature.
#
#   services/bilibili/fuzz   frame_decoder, command_parser, protobuf_commands
#   proto/fuzz               contract_decode
#   services/gateway/fuzz    client_message
#
# Corpora are seeded at run time, never committed: the Bilibili targets from the shared
# fixtures (services/bilibili/fuzz/seed.sh), contract_decode from proto/tests/golden/*.msgpack,
# client_message from the example requests of docs/websocket.md. A crash leaves its input in
# <crate>/fuzz/artifacts/<target>/ and makes this script exit non-zero; turn it into a
# regression test before fixing it.
#
# Usage: deploy/fuzz.sh [minutes] [target...]      (cargo-fuzz 0.13.2 goes into .tools/cargo)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${BILIPULSE_TOOLS:-$ROOT/.tools}"
minutes="${1:-10}"
shift || true
CARGO_FUZZ_VERSION=0.13.2

# shellcheck source=deploy/lib/log.sh
source "$ROOT/deploy/lib/log.sh"

if [[ "$("$TOOLS/cargo/bin/cargo-fuzz" --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
  log "installing cargo-fuzz $CARGO_FUZZ_VERSION into $TOOLS/cargo"
  cargo install --quiet --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION" --root "$TOOLS/cargo"
fi
export PATH="$TOOLS/cargo/bin:$PATH"

# target -> its fuzz crate
declare -A crate=(
  [frame_decoder]=services/bilibili/fuzz
  [command_parser]=services/bilibili/fuzz
  [protobuf_commands]=services/bilibili/fuzz
  [contract_decode]=proto/fuzz
  [client_message]=services/gateway/fuzz
)
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(frame_decoder command_parser protobuf_commands contract_decode client_message)

seed() {
  bash "$ROOT/services/bilibili/fuzz/seed.sh"
  mkdir -p "$ROOT/proto/fuzz/corpus/contract_decode" "$ROOT/services/gateway/fuzz/corpus/client_message"
  cp "$ROOT"/proto/tests/golden/*.msgpack "$ROOT/proto/fuzz/corpus/contract_decode/"
  local n=0
  while IFS= read -r line; do
    n=$((n + 1))
    printf '%s' "$line" > "$ROOT/services/gateway/fuzz/corpus/client_message/doc-$n.json"
  done < <(sed -n 's/^\(→ \)\{0,1\}\({"op".*}\)$/\2/p' "$ROOT/docs/websocket.md")
  log "seeded: $(ls "$ROOT/proto/fuzz/corpus/contract_decode" | wc -l) contract messages, $n client requests"
}

seed
failed=0
for t in "${targets[@]}"; do
  dir="${crate[$t]:?unknown target $t}"
  log "$t: building"
  (cd "$ROOT/$dir" && cargo fuzz build -s none --release "$t" >&2)
  log "$t: running for $minutes min"
  out="$ROOT/$dir/fuzz-$t.log"
  if (cd "$ROOT/$dir" && cargo fuzz run -s none --release "$t" -- \
        -max_total_time=$((minutes * 60)) -print_final_stats=1 >"$out" 2>&1); then
    log "$t: no crash; $(grep -E '^stat::number_of_executed_units|^stat::new_units_added' "$out" | tr '\n' ' ')$(grep -oE 'cov: [0-9]+' "$out" | tail -1)"
  else
    failed=1
    log "$t: FAILED (log: $out; inputs in $dir/artifacts/$t/)"
    tail -30 "$out" >&2
  fi
done
exit "$failed"
