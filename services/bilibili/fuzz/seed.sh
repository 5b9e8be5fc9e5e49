#!/usr/bin/env bash
# Fills the (git-ignored) fuzz corpora from the shared Bilibili fixtures at run time; the
# fixtures are never copied into the repository.
#   frame_decoder  <- packets/*.bin (whole WebSocket frames)
#   command_parser <- messages*/**/*.json (one command body each)
# Usage: services/bilibili/fuzz/seed.sh [fixtures dir]   (default: $BILIPULSE_FIXTURES or
# ../shared/fixtures/bilibili next to the workspace root)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
fixtures="${1:-${BILIPULSE_FIXTURES:-$root/../shared/fixtures/bilibili}}"
if [[ ! -d "$fixtures" ]]; then
  echo "seed.sh: no fixtures at $fixtures; corpora left as they are" >&2
  exit 0
fi
mkdir -p "$here/corpus/frame_decoder" "$here/corpus/command_parser"
n=0
for f in "$fixtures"/packets/*.bin; do
  [[ -e "$f" ]] || continue
  cp "$f" "$here/corpus/frame_decoder/$(basename "$f")"
  n=$((n + 1))
done
m=0
while IFS= read -r -d '' f; do
  rel="${f#"$fixtures"/}"
  cp "$f" "$here/corpus/command_parser/${rel//\//__}"
  m=$((m + 1))
done < <(find "$fixtures" -path "$fixtures/messages*" -name '*.json' -type f -print0)
echo "seed.sh: $n frames -> corpus/frame_decoder, $m command bodies -> corpus/command_parser"
