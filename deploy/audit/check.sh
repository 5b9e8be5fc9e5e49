#!/usr/bin/env bash
# The dependency audit: `cargo deny check` (advisories, yanked crates, licenses, bans, sources;
# configuration in deny.toml) against the pinned advisory snapshot in deploy/audit/advisory-db.
#
# cargo-deny reads its databases from git repositories under a directory named after each
# database's URL, and CI cannot reach GitHub; so this script lays the committed snapshot out
# as such a repository in a temporary directory and runs the check offline (no fetching of
# advisories or crates: `cargo fetch` puts every crate of Cargo.lock in cargo's cache first,
# from crates.io, which CI can reach).
# It prints the snapshot's commit and age first: advisories published after it are not seen.
#
# Needs cargo-deny from deploy/install-tools.sh (.tools/cargo/bin).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tools="${BILIPULSE_TOOLS:-$root/.tools}"
deny="$tools/cargo/bin/cargo-deny"
[[ -x "$deny" ]] || { echo "audit: $deny missing; run deploy/install-tools.sh" >&2; exit 1; }

snapshot="$here/advisory-db"
date="$(sed -n 's/^date: //p' "$snapshot/SNAPSHOT")"
commit="$(sed -n 's/^commit: //p' "$snapshot/SNAPSHOT")"
age_days=$(( ($(date +%s) - $(date -d "$date" +%s)) / 86400 ))
echo "audit: advisory snapshot $commit of $date ($age_days days old; deploy/audit/refresh.sh renews it)" >&2

dbs="$(mktemp -d)"
trap 'rm -rf "$dbs"' EXIT
# cargo-deny's directory for https://github.com/rustsec/advisory-db: the URL's last path
# segment and the XxHash64 (seed 0xca80de71) of the lower-cased URL, as cargo-deny 0.20 names
# it. A different cargo-deny that names it otherwise fails loudly ("failed to find expected
# `crates` directory"), never silently.
db="$dbs/advisory-db-3157b0e258782691"
mkdir -p "$db"
cp -R "$snapshot/crates" "$db/crates"
git -C "$db" init --quiet --initial-branch=main
git -C "$db" add crates
GIT_AUTHOR_DATE="$date" GIT_COMMITTER_DATE="$date" \
    git -C "$db" -c user.name=bilipulse -c user.email=audit@bilipulse.invalid \
    commit --quiet -m "advisory-db $commit (pruned to Cargo.lock)"

cd "$root"
# Every crate of the lock file, for every platform: cargo-deny reads the whole graph offline.
cargo fetch --locked --quiet
BILIPULSE_ADVISORY_DBS="$dbs" "$deny" --color never --offline --locked check \
    advisories bans licenses sources
