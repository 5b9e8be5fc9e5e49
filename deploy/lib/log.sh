# shellcheck shell=bash
# Sourced by the deploy scripts: `log` and `die`, on stderr, prefixed with the sourcing script's
# name (e.g. "install-tools: …", "install-tools: ERROR: …"), so that every script reports the
# same way and a line in CI's output says which script wrote it.
LOG_NAME="$(basename "${BASH_SOURCE[1]:-$0}" .sh)"

log() { printf '%s: %s\n' "$LOG_NAME" "$*" >&2; }

die() {
    printf '%s: ERROR: %s\n' "$LOG_NAME" "$*" >&2
    exit 1
}
