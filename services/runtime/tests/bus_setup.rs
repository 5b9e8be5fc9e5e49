//! Scenarios: services creating the bus's streams and buckets at start-up against a real
//! nats-server, including ones that find them already there: configured differently (refused),
//! or created by an older bilipulse whose contract the current one only extends (migrated in
//! place, nothing stored lost).

use std::time::Duration;

use async_nats::jetstream::kv::Operation;
use async_nats::jetstream::{self, stream};
use async_nats::{Client, HeaderMap};
use bilipulse_proto::streams::{
    ALL_BUCKETS, ALL_STREAMS, EVENTS, KvSpec, MEMBERS, RAW, SUMMARY, WINDOWERS,
};
use bilipulse_proto::{KeyGroup, SCHEMA_VERSION, WindowSummary, subject};
use bilipulse_runtime::bus::{self, BusError, Resource};
use bilipulse_runtime::config::{NatsConfig, StreamOverrides};
use bilipulse_testkit::NatsServer;
use futures::StreamExt as _;

async fn js(server: &NatsServer) -> jetstream::Context {
    bus::jetstream(client(server).await)
}

async fn client(server: &NatsServer) -> Client {
    bus::connect(&NatsConfig::new(server.url()), "bus-setup-test")
        .await
        .unwrap()
}

async fn config_of(js: &jetstream::Context, name: &str) -> stream::Info {
    js.get_stream(name)
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .clone()
}

/// `BILI_SUMMARY` as bilipulse created it before sessions and checkpoints joined it: only
/// `bili.summary.>`, no atomic batch publish, every other setting as the contract says.
fn old_summary_config() -> stream::Config {
    let mut old = bus::stream_config(&SUMMARY, &StreamOverrides::default()).unwrap();
    old.subjects = vec!["bili.summary.>".to_owned()];
    old.allow_atomic_publish = false;
    old
}

/// Publishes `msgs` as one atomic batch (NATS 2.12): the first message opens it as a request,
/// the middle ones are plain publishes, the last commits. Returns the server's answer to the
/// commit (JSON: the ack, or an error).
async fn atomic_batch(client: &Client, id: &str, msgs: &[(String, &'static str)]) -> String {
    for (i, (subject, payload)) in msgs.iter().enumerate() {
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Batch-Id", id);
        headers.insert("Nats-Batch-Sequence", (i + 1).to_string().as_str());
        let last = i + 1 == msgs.len();
        if last {
            headers.insert("Nats-Batch-Commit", "1");
        }
        if i == 0 || last {
            let reply = client
                .request_with_headers(subject.clone(), headers, (*payload).into())
                .await
                .unwrap();
            let reply = String::from_utf8(reply.payload.to_vec()).unwrap();
            if last || !reply.is_empty() {
                return reply;
            }
        } else {
            client
                .publish_with_headers(subject.clone(), headers, (*payload).into())
                .await
                .unwrap();
        }
    }
    unreachable!("the last message returns")
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
        assert_eq!(c.allow_atomic_publish, spec.allow_atomic, "{}", spec.name);
    }
    let summary = &second[ALL_STREAMS
        .iter()
        .position(|s| s.name == SUMMARY.name)
        .unwrap()];
    assert_eq!(
        summary.config.subjects,
        ["bili.summary.>", "bili.session.>", "bili.wckpt.>"],
        "summaries, sessions and checkpoints share one stream"
    );
    assert!(summary.config.allow_atomic_publish);
    let created: Vec<_> = first.iter().map(|i| i.created).collect();
    let found: Vec<_> = second.iter().map(|i| i.created).collect();
    assert_eq!(created, found, "the second start must not recreate streams");

    assert_eq!(buckets.len(), ALL_BUCKETS.len());
    let names: Vec<&str> = buckets.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["bili_rooms", "bili_members", "bili_windowers"]);
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

/// Ingesters in `bili_members` and windowers in `bili_windowers` both go away on their own when
/// they stop renewing their key.
#[tokio::test]
async fn members_expire_on_their_own_through_per_key_ttl() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let js = js(&server).await;
    let buckets = bus::ensure_buckets(&js, &StreamOverrides::default())
        .await
        .unwrap();
    let with_ttl: Vec<KvSpec> = ALL_BUCKETS
        .into_iter()
        .filter(|b| b.key_ttl.is_some())
        .collect();
    assert_eq!(with_ttl, [MEMBERS, WINDOWERS]);
    for spec in with_ttl {
        let bucket = spec.bucket;
        let members = buckets.iter().find(|b| b.name == bucket).unwrap();
        let key = format!("{bucket}-a");

        let mut watch = members.watch(&key).await.unwrap();
        // TTLs are whole seconds; the shortest keeps the test quick.
        let ttl = Duration::from_secs(1);
        members
            .create_with_ttl(&key, "alive".into(), ttl)
            .await
            .unwrap();
        let again = members.create_with_ttl(&key, "alive".into(), ttl).await;
        assert!(
            again.is_err(),
            "{bucket}: a live member key cannot be taken twice"
        );

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
        .unwrap_or_else(|_| panic!("{bucket}: member key did not expire"));
        assert_eq!(expired, Operation::Purge, "{bucket}");
        assert_eq!(members.get(&key).await.unwrap(), None, "{bucket}");
        members
            .create_with_ttl(&key, "back".into(), ttl)
            .await
            .unwrap();
    }
}

/// A `BILI_SUMMARY` made by an older bilipulse (summaries only, no atomic batches) holding
/// summaries is extended in place: the contract's new subjects are added, atomic batch publish
/// is switched on, and every stored summary stays where it was.
#[tokio::test]
async fn an_older_summary_stream_is_extended_in_place_and_keeps_its_data() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let client = client(&server).await;
    let js = bus::jetstream(client.clone());
    js.create_stream(old_summary_config()).await.unwrap();
    let summary = WindowSummary {
        v: SCHEMA_VERSION,
        room: 21_452_505,
        window: "10s".to_owned(),
        start: 1_764_000_000_000,
        end: 1_764_000_010_000,
        danmaku: 42,
        ..WindowSummary::default()
    };
    let stored = bilipulse_proto::encode(&summary).unwrap();
    let old_subject = "bili.summary.21452505.10s";
    let ack = js
        .publish(old_subject, stored.clone().into())
        .await
        .unwrap()
        .await
        .unwrap();
    let before = config_of(&js, SUMMARY.name).await;
    assert!(!before.config.allow_atomic_publish);

    let infos = bus::ensure_streams(&js, &StreamOverrides::default())
        .await
        .unwrap();
    let after = infos
        .iter()
        .find(|i| i.config.name == SUMMARY.name)
        .unwrap();
    assert_eq!(
        after.config.subjects,
        ["bili.summary.>", "bili.session.>", "bili.wckpt.>"]
    );
    assert!(
        after.config.allow_atomic_publish,
        "atomic batch publish switched on"
    );
    assert_eq!(after.created, before.created, "extended, not recreated");
    assert_eq!(after.state.messages, 1, "the stored summary is kept");
    // What the server has now, not what the update answered.
    let now = config_of(&js, SUMMARY.name).await;
    assert_eq!(now.config.subjects, after.config.subjects);
    assert!(now.config.allow_atomic_publish);
    assert_eq!(
        (now.config.duplicate_window, now.config.max_age),
        (SUMMARY.duplicate_window, SUMMARY.max_age),
        "nothing else changed"
    );
    let stream = js.get_stream(SUMMARY.name).await.unwrap();
    let kept = stream.get_raw_message(ack.sequence).await.unwrap();
    assert_eq!(kept.subject.as_str(), old_subject);
    assert_eq!(
        kept.payload.as_ref(),
        stored.as_slice(),
        "the summary is byte for byte intact"
    );

    // The extended stream does what the windower needs of it: a session and a checkpoint,
    // stored together in one atomic batch.
    let group = KeyGroup::of(summary.room);
    let commit = atomic_batch(
        &client,
        "migrated",
        &[
            (subject::session(summary.room), "session"),
            (subject::checkpoint(group), "checkpoint"),
        ],
    )
    .await;
    assert!(
        commit.contains(r#""count":2"#) && !commit.contains("error"),
        "batch not committed: {commit}"
    );
    assert_eq!(config_of(&js, SUMMARY.name).await.state.messages, 3);

    // A second start finds nothing left to do.
    let again = bus::ensure_streams(&js, &StreamOverrides::default())
        .await
        .unwrap();
    let again = again
        .iter()
        .find(|i| i.config.name == SUMMARY.name)
        .unwrap();
    assert_eq!(again.config.subjects, after.config.subjects);
    assert_eq!(again.state.messages, 3);
}

/// Extending is only for streams whose subjects are a subset of the contract's: a subject the
/// contract does not list means someone else configured the stream, and start-up refuses it.
#[tokio::test]
async fn a_summary_stream_with_a_subject_the_contract_does_not_list_is_a_conflict() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let js = js(&server).await;
    let mut handmade = old_summary_config();
    handmade.subjects.push("handmade.>".to_owned());
    js.create_stream(handmade.clone()).await.unwrap();

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
            assert_eq!(name, SUMMARY.name);
            let subjects = mismatches
                .iter()
                .find(|m| m.setting == "subjects")
                .unwrap_or_else(|| panic!("subjects not named: {mismatches:?}"));
            assert!(subjects.found.contains("handmade.>"), "{subjects:?}");
            assert!(subjects.want.contains("bili.session.>"), "{subjects:?}");
        }
        other => panic!("expected a conflict, got {other}"),
    }
    assert!(err.to_string().contains("subjects"), "{err}");

    // Refused, so no subject added or removed.
    let now = config_of(&js, SUMMARY.name).await.config;
    assert_eq!(now.subjects, handmade.subjects);
}

/// A stream start-up refuses is left exactly as it was found, not half-migrated.
#[tokio::test]
async fn a_refused_summary_stream_is_left_exactly_as_found() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let js = js(&server).await;
    let mut handmade = old_summary_config();
    handmade.subjects.push("handmade.>".to_owned());
    js.create_stream(handmade.clone()).await.unwrap();

    let err = bus::ensure_streams(&js, &StreamOverrides::default()).await;
    assert!(matches!(err, Err(BusError::Conflict { .. })), "{err:?}");
    let now = config_of(&js, SUMMARY.name).await.config;
    assert_eq!(now.subjects, handmade.subjects);
    assert!(
        !now.allow_atomic_publish,
        "atomic batch publish was switched on in a stream that was then refused"
    );
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
