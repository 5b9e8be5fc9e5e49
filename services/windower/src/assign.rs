//! Which key groups this replica owns: rendezvous placement of the fixed key groups over the
//! live, non-draining members of `bili_windowers` — the same runtime code that places rooms
//! over ingesters, so every replica computes the same answer without a coordinator.

use std::collections::BTreeSet;

use bilipulse_proto::{KeyGroup, Member};
use bilipulse_runtime::kv_mirror::Snapshot;
use bilipulse_runtime::placement::{Candidate, Placement};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The key groups `me` owns given the members in `snapshot`; `None` until the snapshot is
/// complete (acting on half the members would take groups that belong to others).
///
/// Also `None` while the snapshot lacks this replica's own key (it joins before it watches, so
/// such a snapshot is stale): computing from it would hand every group to the others.
pub fn owned(snapshot: &Snapshot<String, Member>, me: &str) -> Option<BTreeSet<KeyGroup>> {
    if !snapshot.complete || !snapshot.entries.contains_key(me) {
        return None;
    }
    let candidates: Vec<Candidate> = snapshot
        .entries
        .values()
        .filter(|m| !m.draining)
        .map(|m| Candidate {
            id: m.id.clone(),
            capacity: usize::MAX,
        })
        .collect();
    let placement = Placement::compute(KeyGroup::all(), &candidates);
    Some(placement.keys_of(me).collect())
}

/// Follows the members mirror and publishes this replica's key groups whenever they change.
pub fn follow(
    mut members: watch::Receiver<Snapshot<String, Member>>,
    me: String,
    cancel: CancellationToken,
) -> watch::Receiver<Option<BTreeSet<KeyGroup>>> {
    let (tx, rx) = watch::channel(None);
    tokio::spawn(async move {
        loop {
            let now = owned(&members.borrow_and_update(), &me);
            if now.is_some() && *tx.borrow() != now {
                let snap = members.borrow();
                tracing::info!(members = ?snap.entries.keys().collect::<Vec<_>>(), groups = ?now.as_ref().map(|g| g.iter().map(|k| k.index()).collect::<Vec<_>>()), "key groups assigned");
                drop(snap);
                let _ = tx.send(now);
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                r = members.changed() => if r.is_err() { return },
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(ids: &[&str]) -> Snapshot<String, Member> {
        let mut s = Snapshot {
            complete: true,
            ..Snapshot::default()
        };
        for id in ids {
            s.entries.insert(
                (*id).to_owned(),
                Member {
                    v: 1,
                    id: (*id).to_owned(),
                    ..Member::default()
                },
            );
        }
        s
    }

    #[test]
    fn every_group_has_exactly_one_owner() {
        let snap = snapshot(&["w-0", "w-1", "w-2"]);
        let mut all = BTreeSet::new();
        for id in ["w-0", "w-1", "w-2"] {
            let mine = owned(&snap, id).unwrap();
            assert!(!mine.is_empty(), "{id} owns nothing");
            for g in mine {
                assert!(all.insert(g), "{g} owned twice");
            }
        }
        assert_eq!(all.len(), KeyGroup::all().count());
    }

    #[test]
    fn draining_members_and_incomplete_snapshots_own_nothing() {
        assert_eq!(
            owned(&snapshot(&["w-0"]), "w-1"),
            None,
            "a snapshot without me is stale"
        );
        let mut snap = snapshot(&["w-0", "w-1"]);
        snap.entries.get_mut("w-1").unwrap().draining = true;
        assert_eq!(owned(&snap, "w-1").unwrap().len(), 0);
        assert_eq!(owned(&snap, "w-0").unwrap().len(), KeyGroup::all().count());
        snap.complete = false;
        assert_eq!(owned(&snap, "w-0"), None);
    }
}
