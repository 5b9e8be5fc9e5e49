//! Scenarios: services creating the bus's streams and buckets at start-up against a real
//! nats-server, including one that finds them already there, configured differently.

use std::time::Duration;

use async_nats::jetstream::kv::Operation;
use async_nats::jetstream::{self, stream};
use bilipulse_proto::streams::{ALL_BUCKETS, ALL_STREAMS, EVENTS, MEMBERS, RAW};
use bilipulse_runtime::bus::{self, BusError, Resource};
use bilipulse_runtime::config::{NatsConfig, StreamOverrides};
use bilipulse_testkit::NatsServer;
use futures::StreamExt as _;

async fn js(server: &NatsServer) -> jetstream::Context {
    let client = bus::connect(&NatsConfig::new(server.url()), "bus-setup-test")
        .await
        .unwrap();
    bus::jetstream(client)
}

#[tokio::test]
async fn two_services_starting_one_after_the_other_agree_on_the_contract() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let js = js(&server).await;
    let defaults = StreamOverrides::default();

    let first = bus::ensure_streams(&js, &defaults).await.unwrap();
    bus::ensure_buckets(&js, &defaults).await.unwrap();
    // The second service finds everything in place and changes nothing.
    let second = bus::ensure_streams(&js, &defaults).await.unwrap();
    let buckets = bus::ensure_buckets(&js, &defaults).await.unwrap();

    assert_eq!(first.len(), ALL_STREAMS.len());
    for (spec, info) in ALL_STREAMS.iter().zip(&second) {
        let c = &info.config;
        assert_eq!(c.name, spec.name);
        assert_eq!(c.subjects, spec.subjects, "{}", spec.name);
        assert_eq!(c.duplicate_window, spec.duplicate_window, "{}", spec.name);
        assert_eq!(c.max_age, spec.max_age, "{}", spec.name);
        assert_eq!(
            c.max_messages_per_subject, spec.max_msgs_per_subject,
            "{}",
            spec.name
        );
        assert_eq!(c.storage, stream::StorageType::File, "{}", spec.name);
    }
    let created: Vec<_> = first.iter().map(|i| i.created).collect();
    let found: Vec<_> = second.iter().map(|i| i.created).collect();
    assert_eq!(created, found, "the second start must not recreate streams");

    assert_eq!(buckets.len(), ALL_BUCKETS.len());
    for (spec, store) in ALL_BUCKETS.iter().zip(&buckets) {
        assert_eq!(store.name, spec.bucket);
        let mut kv_stream = js.get_stream(&store.stream_name).await.unwrap();
        let c = &kv_stream.info().await.unwrap().config;
        assert_eq!(c.max_messages_per_subject, spec.history, "{}", spec.bucket);
        assert_eq!(c.storage, stream::StorageType::File, "{}", spec.bucket);
        assert_eq!(
            c.allow_message_ttl,
            spec.limit_markers.is_some(),
            "{}",
            spec.bucket
        );
        assert_eq!(
            c.subject_delete_marker_ttl, spec.limit_markers,
            "{}",
            spec.bucket
        );
    }
}

#[tokio::test]
async fn a_stream_someone_configured_differently_is_reported_not_overwritten() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let js = js(&server).await;
    // Someone made BILI_EVENTS by hand with a short duplicate window and an extra subject.
    let short_window = Duration::from_secs(30);
    assert_ne!(short_window, EVENTS.duplicate_window);
    let mut subjects: Vec<String> = EVENTS.subjects.iter().map(|s| (*s).to_owned()).collect();
    subjects.push("handmade.>".into());
    js.create_stream(stream::Config {
        name: EVENTS.name.into(),
        subjects: subjects.clone(),
        duplicate_window: short_window,
        ..Default::default()
    })
    .await
    .unwrap();

    let err = bus::ensure_streams(&js, &StreamOverrides::default())
        .await
        .unwrap_err();
    match &err {
        BusError::Conflict {
            resource,
            name,
            mismatches,
        } => {
            assert_eq!(*resource, Resource::Stream);
            assert_eq!(name, EVENTS.name);
            let settings: Vec<_> = mismatches.iter().map(|m| m.setting).collect();
            assert!(settings.contains(&"duplicate_window"), "{settings:?}");
            assert!(settings.contains(&"subjects"), "{settings:?}");
        }
        other => panic!("expected a conflict, got {other}"),
    }
    let text = err.to_string();
    assert!(
        text.contains(EVENTS.name) && text.contains("duplicate_window"),
        "{text}"
    );

    // Untouched.
    let mut s = js.get_stream(EVENTS.name).await.unwrap();
    let c = &s.info().await.unwrap().config;
    assert_eq!(c.duplicate_window, short_window);
    assert_eq!(c.subjects, subjects);
}

#[tokio::test]
async fn a_bucket_without_per_key_ttl_is_a_conflict() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let js = js(&server).await;
    assert!(
        MEMBERS.limit_markers.is_some(),
        "the contract gives members a TTL"
    );
    js.create_key_value(jetstream::kv::Config {
        bucket: MEMBERS.bucket.into(),
        history: MEMBERS.history,
        ..Default::default()
    })
    .await
    .unwrap();

    match bus::ensure_buckets(&js, &StreamOverrides::default()).await {
        Err(BusError::Conflict {
            resource: Resource::Bucket,
            name,
            mismatches,
        }) => {
            assert_eq!(name, MEMBERS.bucket);
            assert!(
                mismatches.iter().any(|m| m.setting == "allow_msg_ttl"),
                "{mismatches:?}"
            );
        }
        other => panic!("expected a bucket conflict, got {other:?}"),
    }
}

#[tokio::test]
async fn retention_overrides_are_applied_in_place_and_keep_the_data() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let js = js(&server).await;
    bus::ensure_streams(&js, &StreamOverrides::default())
        .await
        .unwrap();
    js.publish("bili.raw.1", "{}".into())
        .await
        .unwrap()
        .await
        .unwrap();

    let longer = RAW.max_age * 3;
    let overrides = StreamOverrides {
        raw_max_age: Some(longer),
        ..Default::default()
    };
    let infos = bus::ensure_streams(&js, &overrides).await.unwrap();
    let raw = infos.iter().find(|i| i.config.name == RAW.name).unwrap();
    assert_eq!(raw.config.max_age, longer);
    assert_eq!(
        raw.state.messages, 1,
        "updating retention must not drop messages"
    );
    let events = infos.iter().find(|i| i.config.name == EVENTS.name).unwrap();
    assert_eq!(
        events.config.max_age, EVENTS.max_age,
        "other streams keep the default"
    );
}

#[tokio::test]
async fn members_expire_on_their_own_through_per_key_ttl() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let js = js(&server).await;
    let buckets = bus::ensure_buckets(&js, &StreamOverrides::default())
        .await
        .unwrap();
    let members = buckets.iter().find(|b| b.name == MEMBERS.bucket).unwrap();

    let mut watch = members.watch("ingester-a").await.unwrap();
    // TTLs are whole seconds; the shortest keeps the test quick.
    let ttl = Duration::from_secs(1);
    members
        .create_with_ttl("ingester-a", "alive".into(), ttl)
        .await
        .unwrap();
    let again = members
        .create_with_ttl("ingester-a", "alive".into(), ttl)
        .await;
    assert!(again.is_err(), "a live member key cannot be taken twice");

    let deadline = Duration::from_secs(15);
    let expired = tokio::time::timeout(deadline, async {
        while let Some(entry) = watch.next().await {
            let entry = entry.unwrap();
            if entry.operation != Operation::Put {
                return entry.operation;
            }
        }
        panic!("watch ended");
    })
    .await
    .expect("member key did not expire");
    assert_eq!(expired, Operation::Purge);
    assert_eq!(members.get("ingester-a").await.unwrap(), None);
    members
        .create_with_ttl("ingester-a", "back".into(), ttl)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_three_node_deployment_replicates_streams_and_buckets() {
    let Some(cluster) = bilipulse_testkit::NatsCluster::start(3) else {
        return;
    };
    let client = bus::connect(&NatsConfig::new(cluster.urls()), "replicated")
        .await
        .unwrap();
    let js = bus::jetstream(client);
    let overrides = StreamOverrides {
        stream_replicas: Some(3),
        ..Default::default()
    };

    for info in bus::ensure_streams(&js, &overrides).await.unwrap() {
        assert_eq!(info.config.num_replicas, 3, "{}", info.config.name);
    }
    for store in bus::ensure_buckets(&js, &overrides).await.unwrap() {
        let mut s = js.get_stream(&store.stream_name).await.unwrap();
        assert_eq!(
            s.info().await.unwrap().config.num_replicas,
            3,
            "{}",
            store.name
        );
    }
    // Starting again with the same settings is a no-op, also in a cluster.
    bus::ensure_streams(&js, &overrides).await.unwrap();
    bus::ensure_buckets(&js, &overrides).await.unwrap();
}
