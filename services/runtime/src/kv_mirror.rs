//! Local mirrors of KV buckets (`bili_rooms`, the members buckets), kept current by watching them.
//!
//! Services decide what to run from the content of buckets — the ingester from the desired
//! rooms and the live ingesters, the windower from the live windowers — and must never act on
//! half of it. Each mirror is a [`tokio::sync::watch`] channel holding a [`Snapshot`]: the
//! decoded entries and whether the initial load is complete. Consumers act only on complete
//! snapshots, so a replica that has seen half the members at start-up never computes a wrong
//! placement. Entries that do not decode are reported (log and the caller's callback, for a
//! metric) and skipped; the rest keep working.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use async_nats::jetstream::kv::{self, Operation};
use futures::StreamExt;
use thiserror::Error;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use bilipulse_proto::{Member, RoomConfig};

/// The decoded content of a bucket, as last seen.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot<K: Ord, V> {
    /// Valid entries by key.
    pub entries: BTreeMap<K, V>,
    /// True once every entry that existed when watching began has been read.
    pub complete: bool,
    /// Keys skipped because key or value was invalid, with the reason.
    pub invalid: BTreeMap<String, String>,
}

impl<K: Ord, V> Default for Snapshot<K, V> {
    fn default() -> Self {
        Snapshot {
            entries: BTreeMap::new(),
            complete: false,
            invalid: BTreeMap::new(),
        }
    }
}

/// Decodes a `bili_rooms` entry for [`spawn`]: the key must be a canonical room id and the
/// value a [`RoomConfig`] for that room, so a hand-written key never starts the wrong room.
pub fn decode_room(key: &str, value: &[u8]) -> Result<(u64, RoomConfig), String> {
    let room = canonical_room(key).ok_or_else(|| format!("key {key:?} is not a room id"))?;
    let cfg: RoomConfig = bilipulse_proto::decode(value).map_err(|e| format!("value: {e}"))?;
    if cfg.room != room {
        return Err(format!("value names room {} under key {room}", cfg.room));
    }
    Ok((room, cfg))
}

/// Decodes an entry of a members bucket (`bili_members`, the windowers' bucket) for [`spawn`]:
/// the value must be a [`Member`] whose id is the key, so one replica cannot speak for another.
pub fn decode_member(key: &str, value: &[u8]) -> Result<(String, Member), String> {
    let m: Member = bilipulse_proto::decode(value).map_err(|e| format!("value: {e}"))?;
    if m.id != key {
        return Err(format!("value names member {:?} under key {key:?}", m.id));
    }
    Ok((key.to_owned(), m))
}

fn canonical_room(key: &str) -> Option<u64> {
    if key.is_empty() || key.starts_with('0') || !key.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    key.parse().ok()
}

/// Keeps a [`Snapshot`] of `store` current until `cancel` fires; `decode` turns a raw entry
/// into a typed one (or a reason it is invalid). `on_invalid(key, reason)` is called once per
/// invalid revision (for metrics). Re-watches from scratch if the watch breaks (e.g. NATS
/// restarted), so the mirror converges again.
pub fn spawn<K, V, D, F>(
    store: kv::Store,
    decode: D,
    on_invalid: F,
    cancel: CancellationToken,
) -> watch::Receiver<Snapshot<K, V>>
where
    K: Ord + Clone + Send + Sync + 'static,
    V: Clone + PartialEq + Send + Sync + 'static,
    D: Fn(&str, &[u8]) -> Result<(K, V), String> + Send + Sync + 'static,
    F: Fn(&str, &str) + Send + Sync + 'static,
{
    let (tx, rx) = watch::channel(Snapshot::default());
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                r = follow(&store, &decode, &on_invalid, &tx) => {
                    let Err(e) = r;
                    tracing::warn!(bucket = %store.name, error = %e, "KV watch broke; watching again");
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    });
    rx
}

/// Why a watch stopped: [`follow`] runs until one of these happens.
#[derive(Debug, Error)]
enum WatchBroke {
    #[error("cannot start watching: {0}")]
    Start(#[from] kv::WatchError),
    #[error("cannot read the bucket status: {0}")]
    Status(#[from] kv::StatusError),
    #[error("watch failed: {0}")]
    Entry(#[from] kv::WatcherError),
    #[error("watch ended")]
    Ended,
}

async fn follow<K, V, D, F>(
    store: &kv::Store,
    decode: &D,
    on_invalid: &F,
    tx: &watch::Sender<Snapshot<K, V>>,
) -> Result<Infallible, WatchBroke>
where
    K: Ord + Clone,
    V: Clone + PartialEq,
    D: Fn(&str, &[u8]) -> Result<(K, V), String>,
    F: Fn(&str, &str),
{
    // `watch_all` would deliver only changes from now on; the mirror needs the current value of
    // every key first (last per subject), then the changes.
    let mut watch = store.watch_with_history(">").await?;
    // An empty bucket delivers nothing, so "caught up" cannot come from the watch alone.
    let empty = store.status().await?.values() == 0;
    let mut snap: Snapshot<K, V> = Snapshot {
        complete: empty,
        ..Snapshot::default()
    };
    // Which decoded key each raw key maps to, so deletes find their entry.
    let mut keys: BTreeMap<String, K> = BTreeMap::new();
    tx.send_replace(snap.clone());
    while let Some(entry) = watch.next().await {
        let entry = entry?;
        match entry.operation {
            Operation::Put => match decode(&entry.key, &entry.value) {
                Ok((k, v)) => {
                    snap.invalid.remove(&entry.key);
                    keys.insert(entry.key.clone(), k.clone());
                    snap.entries.insert(k, v);
                }
                Err(reason) => {
                    tracing::warn!(bucket = %entry.bucket, key = %entry.key, %reason, "ignoring invalid KV entry");
                    on_invalid(&entry.key, &reason);
                    if let Some(k) = keys.remove(&entry.key) {
                        snap.entries.remove(&k);
                    }
                    snap.invalid.insert(entry.key.clone(), reason);
                }
            },
            Operation::Delete | Operation::Purge => {
                snap.invalid.remove(&entry.key);
                if let Some(k) = keys.remove(&entry.key) {
                    snap.entries.remove(&k);
                }
            }
        }
        if entry.seen_current || entry.delta == 0 {
            snap.complete = true;
        }
        if snap.complete {
            tx.send_replace(snap.clone());
        }
    }
    Err(WatchBroke::Ended)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_keys_must_be_canonical_and_match_the_value() {
        let v = bilipulse_proto::encode(&RoomConfig {
            v: 1,
            room: 5269,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(decode_room("5269", &v).unwrap().0, 5269);
        assert!(decode_room("05269", &v).is_err());
        assert!(decode_room("abc", &v).is_err());
        assert!(
            decode_room("865138", &v)
                .unwrap_err()
                .contains("names room 5269")
        );
        assert!(
            decode_room("5269", b"\xc1garbage")
                .unwrap_err()
                .starts_with("value")
        );
    }

    #[test]
    fn member_keys_must_match_the_value() {
        let m = Member {
            v: 1,
            id: "windower-0".into(),
            ..Default::default()
        };
        let v = bilipulse_proto::encode(&m).unwrap();
        assert_eq!(
            decode_member("windower-0", &v).unwrap(),
            ("windower-0".into(), m)
        );
        assert!(
            decode_member("windower-1", &v)
                .unwrap_err()
                .contains("names member \"windower-0\"")
        );
        assert!(
            decode_member("windower-0", b"\xc1")
                .unwrap_err()
                .starts_with("value")
        );
    }
}
