#!/usr/bin/env bash
# The test command: installs the pinned tools, then runs formatting, lint and the whole test
# suite of the workspace (unit, integration, doc tests). Runs from any directory.
#
#   bash deploy/test.sh
#
# With CI=true (as .ci/run sets it) tests whose prerequisites are missing fail instead of
# skipping. One runner everywhere: cargo-nextest (on every machine of this kind; elsewhere
# `cargo install cargo-nextest --locked`), plus `cargo test --doc` for the doc tests.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-auto}"

START=$SECONDS
run() {
    local t0=$SECONDS
    printf '\n==> %s\n' "$*" >&2
    "$@"
    printf '<== %s: ok (%ds)\n' "$1 ${2:-}" "$((SECONDS - t0))" >&2
}

run bash deploy/install-tools.sh
run bash deploy/validate-k8s.sh
run cargo fmt --all --check
run cargo clippy --workspace --all-targets --locked -- -D warnings
run bash deploy/audit/check.sh
if ! cargo nextest --version >/dev/null 2>&1; then
    echo "test: cargo-nextest is required (cargo install cargo-nextest --locked)" >&2
    exit 1
fi
run cargo nextest run --workspace --locked
# nextest does not run doc tests.
run cargo test --doc --workspace --locked

# The image, as far as this machine can take it: built with podman from the binaries just
# tested, each binary run from it, and the local-sim overlay played from it until summaries
# flow (deploy/image.sh). Needs root (podman, apt); BILIPULSE_IMAGE_TESTS=0 skips it outside CI.
in_ci() { [[ -n "${CI:-}" && "${CI}" != "false" && "${CI}" != "0" ]]; }
if [[ ${BILIPULSE_IMAGE_TESTS:-1} == 0 ]] && ! in_ci; then
    printf '\nSKIPPED: the image checks (BILIPULSE_IMAGE_TESTS=0)\n' >&2
elif [[ $EUID -ne 0 ]] && ! in_ci; then
    printf '\nSKIPPED: the image checks need root for podman (BILIPULSE_IMAGE_TESTS=0 silences this)\n' >&2
else
    run cargo build --workspace --bins --locked
    run bash deploy/image.sh all
fi

printf '\nall checks passed in %ds\n' "$((SECONDS - START))" >&2
