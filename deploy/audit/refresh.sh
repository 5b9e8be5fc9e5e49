#!/usr/bin/env bash
# Takes a new snapshot of the RustSec advisory database for `cargo deny check advisories`
# (deploy/audit/check.sh), from a clone of https://github.com/rustsec/advisory-db: run it where
# GitHub is reachable, after Cargo.lock gained crates or to pick up new advisories, and commit
# the result. CI cannot reach GitHub, which is why the snapshot is in the repository at all.
#
# Only the advisories of crates named in Cargo.lock are kept (a few dozen files instead of the
# whole database); `SNAPSHOT` records the commit and its date, so the check can say how old
# its knowledge is.
#
# Usage: deploy/audit/refresh.sh <advisory-db checkout or bare repository>
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
src="${1:?usage: refresh.sh <advisory-db git directory>}"
out="$here/advisory-db"

commit="$(git -C "$src" rev-parse HEAD)"
date="$(git -C "$src" show -s --format=%cI HEAD)"
rm -rf "$out"
mkdir -p "$out/crates"
kept=0
while read -r name; do
  if git -C "$src" cat-file -e "HEAD:crates/$name" 2>/dev/null; then
    mkdir -p "$out/crates/$name"
    while read -r file; do
      git -C "$src" show "HEAD:crates/$name/$file" > "$out/crates/$name/$file"
      kept=$((kept + 1))
    done < <(git -C "$src" ls-tree --name-only "HEAD:crates/$name" | grep '\.md$')
  fi
done < <(sed -n 's/^name = "\(.*\)"$/\1/p' "$root/Cargo.lock" | sort -u)
git -C "$src" show HEAD:LICENSE.txt > "$out/LICENSE.txt"
cat > "$out/SNAPSHOT" <<INFO
source: https://github.com/rustsec/advisory-db
commit: $commit
date: $date
kept: advisories of the crates named in Cargo.lock ($kept files)
license: CC0-1.0 (LICENSE.txt)
INFO
echo "refresh.sh: $kept advisories from $commit ($date) -> $out"
