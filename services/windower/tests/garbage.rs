//! Scenario 5: garbage of every kind on `bili.event.>` is counted by cause and survived; the good
//! events around it are all counted.

mod common;

use bilipulse_proto::{Payload, RoomEvent, SCHEMA_VERSION};
use common::*;

const ROOM: u64 = 865_138;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_counted_and_good_events_around_it_are_not_lost() {
    let Some(world) = World::start().await else {
        return;
    };
    let w = world.windower("w-garbage", &[]);
    let now = now_ms();
    let good = |i: u64| danmaku(ROOM, now + i as i64, &format!("g{i}"), i);
    let mut n = 0u64;
    let mut publish_good = async |world: &World| {
        n += 1;
        world.publish(&good(n)).await;
    };
    publish_good(&world).await;
    let subject = format!("bili.event.{ROOM}.danmaku");
    world
        .publish_raw(&subject, b"this is not msgpack".to_vec(), None)
        .await;
    publish_good(&world).await;
    let mut newer = good(1000);
    newer.v = SCHEMA_VERSION + 998;
    newer.id = "newer".into();
    world
        .publish_raw(&subject, bilipulse_proto::encode(&newer).unwrap(), None)
        .await;
    publish_good(&world).await;
    world
        .publish_raw(
            &format!("bili.event.{ROOM}.hologram"),
            bilipulse_proto::encode(&good(1001)).unwrap(),
            None,
        )
        .await;
    publish_good(&world).await;
    for (id, ts) in [("zero", 0), ("future", now + 86_400_000)] {
        let mut ev = good(1002);
        ev.ts = ts;
        ev.id = id.into();
        world.publish(&ev).await;
        publish_good(&world).await;
    }
    world
        .publish_raw(&subject, vec![0x81; 1_000_000], None)
        .await;
    publish_good(&world).await;
    let mut elsewhere: RoomEvent = good(1003);
    elsewhere.room = ROOM + 1;
    world
        .publish_raw(&subject, bilipulse_proto::encode(&elsewhere).unwrap(), None)
        .await;
    publish_good(&world).await;
    world
        .publish_raw("bili.event.0123.danmaku", b"x".to_vec(), None)
        .await;
    publish_good(&world).await;
    let mut kind_mismatch = good(1004);
    kind_mismatch.payload = Payload::Like(Default::default());
    world
        .publish_raw(
            &subject,
            bilipulse_proto::encode(&kind_mismatch).unwrap(),
            None,
        )
        .await;
    publish_good(&world).await;

    let want = [
        ("malformed", 1.0),
        ("unsupported_version", 1.0),
        ("unknown_kind", 1.0),
        ("absurd_timestamp", 2.0),
        ("too_large", 1.0),
        ("subject_mismatch", 2.0),
        ("bad_subject", 1.0),
    ];
    converge("garbage counted by cause", DEADLINE, async || {
        let m = w.metrics().await?;
        let got: Vec<(&str, f64)> = want
            .iter()
            .map(|(c, _)| {
                (
                    *c,
                    m.get(&format!(
                        "bilipulse_windower_garbage_total{{label=\"{c}\"}}"
                    )),
                )
            })
            .collect();
        (got == want).then_some(()).ok_or(format!("{got:?}"))
    })
    .await;
    let total = n;
    let counted = eventually("every good event counted", DEADLINE, async || {
        let f = world.finals().await;
        let c: u64 = f
            .values()
            .filter(|s| s.window == "1s")
            .map(|s| s.danmaku)
            .sum();
        (c == total).then_some(c)
    })
    .await;
    assert_eq!(counted, 10);
    assert!(w.is_ready().await, "still running and ready");
}
