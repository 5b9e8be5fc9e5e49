//! Writing desired rooms while JetStream has no server answering for `bili_rooms` yet: the
//! write waits (at most `WRITE_PATIENCE`) instead of failing with "no stream found", because
//! that is what a cluster looks like for a moment after the bucket is created or while its
//! leader moves. Against a real nats-server, with the bucket's stream deleted and created again.

use std::time::Duration;

use async_nats::jetstream::{self, kv};
use bilipulse_proto::streams::ROOMS;
use bilipulse_runtime::bus;
use bilipulse_runtime::config::{NatsConfig, StreamOverrides};
use bilipulse_runtime::rooms::{self, RoomsError, WRITE_PATIENCE};
use bilipulse_testkit::NatsServer;
use tokio::time::Instant;

const ROOM: u64 = 21_452_505;

/// A `bili_rooms` handle whose bucket has just been deleted: no server answers its writes.
async fn bucket_gone(server: &NatsServer) -> (jetstream::Context, kv::Store) {
    let client = bus::connect(&NatsConfig::new(server.url()), "rooms-write-test")
        .await
        .unwrap();
    let js = bus::jetstream(client);
    let store = bus::ensure_bucket(&js, &ROOMS, &StreamOverrides::default())
        .await
        .unwrap();
    js.delete_stream(format!("KV_{}", ROOMS.bucket))
        .await
        .unwrap();
    (js, store)
}

#[tokio::test]
async fn a_write_waits_for_a_bucket_that_is_not_answering_yet() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let (js, store) = bucket_gone(&server).await;

    // Nobody answers for the bucket now; it comes back a little later, while the write waits.
    let recreate = {
        let js = js.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            bus::ensure_bucket(&js, &ROOMS, &StreamOverrides::default())
                .await
                .unwrap();
        })
    };
    let started = Instant::now();
    rooms::put(&store, ROOM, Some(5269), "waited")
        .await
        .expect("the write waits");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "the write cannot have succeeded before the bucket existed"
    );
    recreate.await.unwrap();
    let (listed, invalid) = rooms::list(&store).await.unwrap();
    assert!(invalid.is_empty(), "{invalid:?}");
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].room, listed[0].alias), (ROOM, Some(5269)));
}

#[tokio::test]
async fn a_write_to_a_bucket_that_never_answers_fails_after_the_patience() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let (_js, store) = bucket_gone(&server).await;

    let started = Instant::now();
    let err = rooms::put(&store, ROOM, None, "").await.unwrap_err();
    assert!(matches!(err, RoomsError::Put { room: ROOM, .. }), "{err:?}");
    assert!(
        started.elapsed() >= WRITE_PATIENCE,
        "gave up after {:?}",
        started.elapsed()
    );
}
