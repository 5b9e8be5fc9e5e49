//! Scenario: replicas of a service finding each other through a members bucket of their own
//! (not `bili_members`), the way the ingester and the windower each do: keys written and renewed
//! with a TTL, mirrored by every replica, expiring when a replica stops renewing, and placed
//! over.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bilipulse_proto::streams::{KvSpec, MEMBERS};
use bilipulse_proto::{Member, SCHEMA_VERSION};
use bilipulse_runtime::bus;
use bilipulse_runtime::clock::now_ms;
use bilipulse_runtime::config::{NatsConfig, StreamOverrides};
use bilipulse_runtime::kv_mirror::{self, Snapshot};
use bilipulse_runtime::membership::{Membership, renew_interval};
use bilipulse_runtime::placement::{Candidate, Placement};
use bilipulse_testkit::NatsServer;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// A members bucket with the contract's settings under another name.
const REPLICAS: KvSpec = KvSpec {
    bucket: "test_replicas",
    ..MEMBERS
};

const TTL: Duration = Duration::from_secs(1);
const DEADLINE: Duration = Duration::from_secs(20);

fn member(id: &str) -> Member {
    Member {
        v: SCHEMA_VERSION,
        id: id.into(),
        started: now_ms(),
        ts: now_ms(),
        capacity: 0,
        draining: false,
        version: "test".into(),
    }
}

async fn until(
    rx: &mut watch::Receiver<Snapshot<String, Member>>,
    what: &str,
    f: impl FnMut(&Snapshot<String, Member>) -> bool,
) {
    tokio::time::timeout(DEADLINE, rx.wait_for(f))
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
        .expect("mirror task ended");
}

fn live(s: &Snapshot<String, Member>) -> Vec<&str> {
    s.entries
        .values()
        .filter(|m| !m.draining)
        .map(|m| m.id.as_str())
        .collect()
}

#[tokio::test]
async fn replicas_join_renew_expire_and_leave_in_their_own_bucket() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let client = bus::connect(&NatsConfig::new(server.url()), "membership-test")
        .await
        .unwrap();
    let js = bus::jetstream(client);
    let kv = bus::ensure_bucket(&js, &REPLICAS, &StreamOverrides::default())
        .await
        .unwrap();

    let invalid = Arc::new(AtomicUsize::new(0));
    let seen_invalid = invalid.clone();
    let cancel = CancellationToken::new();
    let mut mirror = kv_mirror::spawn(
        kv.clone(),
        kv_mirror::decode_member,
        move |_, _| {
            seen_invalid.fetch_add(1, Ordering::Relaxed);
        },
        cancel.clone(),
    );
    until(&mut mirror, "the empty bucket to load", |s| {
        s.complete && s.entries.is_empty()
    })
    .await;

    let mut a = Membership::join(js.clone(), kv.clone(), member("replica-a"), TTL)
        .await
        .unwrap();
    let b = Membership::join(js.clone(), kv.clone(), member("replica-b"), TTL)
        .await
        .unwrap();
    until(&mut mirror, "both replicas", |s| {
        live(s) == ["replica-a", "replica-b"]
    })
    .await;
    assert!(
        js.get_key_value(MEMBERS.bucket).await.is_err(),
        "nothing may be written to bili_members"
    );

    // Renewal goes to this bucket's subject, as a new revision that keeps the TTL.
    let first = kv.entry("replica-a").await.unwrap().unwrap().revision;
    a.renew(false).await.unwrap();
    let entry = kv.entry("replica-a").await.unwrap().unwrap();
    assert!(entry.revision > first, "{} !> {first}", entry.revision);
    let kv_stream = js.get_stream(&kv.stream_name).await.unwrap();
    let raw = kv_stream
        .get_last_raw_message_by_subject("$KV.test_replicas.replica-a")
        .await
        .unwrap();
    assert_eq!(
        raw.headers.get("Nats-TTL").map(|v| v.as_str()),
        Some("1"),
        "renewal must keep the key's TTL"
    );

    // A replica restarted under the same id adopts its leftover key.
    let mut a = {
        drop(a);
        Membership::join(js.clone(), kv.clone(), member("replica-a"), TTL)
            .await
            .unwrap()
    };
    assert!(kv.entry("replica-a").await.unwrap().unwrap().revision > entry.revision);

    // Invalid entries are reported and skipped.
    kv.put("replica-x", b"\xc1".as_slice().into())
        .await
        .unwrap();
    until(&mut mirror, "the invalid entry", |s| {
        s.invalid.contains_key("replica-x")
    })
    .await;
    assert_eq!(invalid.load(Ordering::Relaxed), 1);
    kv.delete("replica-x").await.unwrap();

    // b stops renewing (crashed): its key expires while a's renewals keep a alive.
    drop(b);
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        a.renew(false).await.unwrap();
        if live(&mirror.borrow()) == ["replica-a"] {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "replica-b never expired"
        );
        tokio::time::sleep(renew_interval(TTL)).await;
    }
    let s = mirror.borrow().clone();
    let members: Vec<Candidate> = s
        .entries
        .values()
        .map(|m| Candidate {
            id: m.id.clone(),
            capacity: usize::MAX,
        })
        .collect();
    let placed = Placement::compute(0..32u16, &members);
    assert_eq!(placed.keys_of("replica-a").count(), 32);

    // Draining is visible to the others; leaving removes the key at once.
    a.renew(true).await.unwrap();
    until(&mut mirror, "a draining", |s| {
        s.entries.get("replica-a").is_some_and(|m| m.draining)
    })
    .await;
    let c = Membership::join(
        js.clone(),
        kv.clone(),
        member("replica-c"),
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    assert_eq!(c.member().id, "replica-c");
    until(&mut mirror, "c", |s| s.entries.contains_key("replica-c")).await;
    c.leave().await;
    until(&mut mirror, "c to leave", |s| {
        !s.entries.contains_key("replica-c")
    })
    .await;
    a.leave().await;
    until(&mut mirror, "everyone gone", |s| s.entries.is_empty()).await;
    cancel.cancel();
}
