//! Scenario: key groups are part of the contract because NATS must be able to compute them too
//! (a `{{partition(32, …)}}` subject mapping sends a room's events to its group). A real
//! nats-server partitions room ids with a stream subject transform, and every room lands in the
//! group `KeyGroup::of` names.

use async_nats::jetstream::{self, stream};
use bilipulse_proto::KeyGroup;
use bilipulse_proto::keygroup::KEY_GROUPS;
use bilipulse_testkit::NatsServer;

#[tokio::test]
async fn nats_partitions_room_ids_exactly_like_key_group_of() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let client = async_nats::connect(server.url()).await.unwrap();
    let js = jetstream::new(client);
    js.create_stream(stream::Config {
        name: "KEYGROUPS".to_owned(),
        subjects: vec!["kg.*".to_owned()],
        subject_transform: Some(stream::SubjectTransform {
            source: "kg.*".to_owned(),
            destination: format!("kg.{{{{partition({KEY_GROUPS},1)}}}}.{{{{wildcard(1)}}}}"),
        }),
        storage: stream::StorageType::Memory,
        ..Default::default()
    })
    .await
    .unwrap();

    let rooms: Vec<u64> = (1..=300)
        .chain([5269, 21_452_505, 865_138, 1 << 53, u64::MAX])
        .collect();
    for room in &rooms {
        js.publish(format!("kg.{room}"), "".into())
            .await
            .unwrap()
            .await
            .unwrap();
    }

    let stream = js.get_stream("KEYGROUPS").await.unwrap();
    for (seq, room) in (1..).zip(&rooms) {
        let msg = stream.get_raw_message(seq).await.unwrap();
        assert_eq!(
            msg.subject.as_str(),
            format!("kg.{}.{room}", KeyGroup::of(*room)),
            "room {room}: NATS and KeyGroup::of disagree"
        );
    }
}
