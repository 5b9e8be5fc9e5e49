//! Scenario 1: simulator → ingesters → windower, several rooms and profiles. Every final `1s`
//! and `1m` summary equals `bilipulse recount` and the simulator's ground truth (counts,
//! distinct chatters, CNY); windows the coverage reports as incomplete are listed, not hidden.

mod common;

use std::collections::BTreeMap;

use bilipulse_proto::subject::Window;
use bilipulse_runtime::shutdown::Shutdown;
use bilipulse_sim::{Account, Profile, RoomSpec, SimConfig};
use clap::Parser;
use common::*;

const SESSDATA: &str = "pipeline%2Csessdata%2C4343";
const UID: u64 = 4343;

/// What the simulator says happened in one window (delivered commands only).
#[derive(Debug, Default, PartialEq)]
struct Truth {
    danmaku: u64,
    lottery: u64,
    chatters: std::collections::BTreeSet<u64>,
    gifts: u64,
    gift_mcny: u64,
    superchats: u64,
    superchat_mcny: u64,
    guards: u64,
}

fn truth_windows(sim: &bilipulse_sim::SimHandle, room: u64, w: Window) -> BTreeMap<i64, Truth> {
    let mut out: BTreeMap<i64, Truth> = BTreeMap::new();
    for r in sim.truth().events_of(room) {
        if r.conns == 0 || r.dup_of.is_some() || r.conn.is_some() {
            continue; // not delivered, a repeat, or a per-connection notice
        }
        let t = out.entry(w.start_of(r.ts)).or_default();
        match r.kind.as_str() {
            "danmaku" if r.lottery == Some(true) => t.lottery += 1,
            "danmaku" => {
                t.danmaku += 1;
                t.chatters.insert(r.uid.unwrap_or(0));
            }
            "gift" if r.combo_total_coin.is_none() => {
                for g in r.gifts.iter().filter(|g| g.coin_type == "gold") {
                    t.gifts += 1;
                    t.gift_mcny += g.total_coin;
                }
            }
            "superchat" => {
                t.superchats += 1;
                t.superchat_mcny += r.sc.as_ref().map_or(0, |s| s.price_cny * 1000);
            }
            "guard" => t.guards += 1,
            _ => {}
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_rooms_through_ingesters_and_windower_equal_recount_and_truth() {
    let Some(world) = World::start().await else {
        return;
    };
    let specs = vec![
        RoomSpec::new(41_000_001, Profile::Normal).with_rate(15.0),
        RoomSpec::new(41_000_008, Profile::Busy).with_rate(60.0),
        RoomSpec::new(41_000_015, Profile::Quiet),
        RoomSpec::new(41_000_022, Profile::Sessions).with_rate(10.0),
    ];
    let rooms: Vec<u64> = specs.iter().map(|s| s.room).collect();
    let mut cfg = SimConfig::for_tests(&specs);
    cfg.heartbeat_timeout_ms = 120_000;
    cfg.accounts = vec![Account {
        sessdata: SESSDATA.into(),
        uid: UID,
        uname: "pipeline".into(),
    }];
    let sim = bilipulse_sim::start(cfg).await.expect("simulator starts");
    let cookie = world.dir.path().join("sessdata");
    std::fs::write(&cookie, SESSDATA).unwrap();
    let rooms_kv = bilipulse_runtime::bus::ensure_bucket(
        &world.js,
        &bilipulse_proto::streams::ROOMS,
        &Default::default(),
    )
    .await
    .unwrap();
    for &r in &rooms {
        bilipulse::rooms::add(&rooms_kv, r, None, "").await.unwrap();
    }
    let base = sim.http_base().to_string();
    let mut ingesters = Vec::new();
    for i in 0..2 {
        let mut args = bilipulse_testkit::stack::logged_in_ingester(
            &format!("ing-{i}"),
            &world.nats.url(),
            &base,
            &cookie,
            UID,
        );
        args.push("--member-ttl=2s".into());
        let config = bilipulse_ingester::Config::try_parse_from(args).expect("ingester flags");
        let shutdown = Shutdown::new();
        ingesters.push((
            shutdown.clone(),
            tokio::spawn(bilipulse_ingester::run(config, shutdown)),
        ));
    }
    let w = world.windower(
        "w-pipe",
        &[("--windows", "1s,1m"), ("--revise-within", "5m")],
    );
    // Run until the minute that holds the first 20 s after the last room connected has closed
    // (20 to 80 s); minutes only partly observed are compared too, and listed.
    let connected = eventually("every room connected", DEADLINE, async || {
        let st = world.js.get_stream("BILI_STATUS").await.ok()?;
        let mut latest = 0;
        for &r in &rooms {
            let m = st
                .get_last_raw_message_by_subject(&format!("bili.status.{r}"))
                .await
                .ok()?;
            let s: bilipulse_proto::RoomStatus = bilipulse_proto::decode(&m.payload).ok()?;
            if s.state != bilipulse_proto::ConnState::Connected {
                return None;
            }
            latest = latest.max(s.since);
        }
        Some(latest)
    })
    .await;
    // At least 20 s of traffic after the last connection, up to the next minute boundary.
    let cutoff = Window::M1.start_of(connected + 20_000) + 60_000;
    eventually(
        "that minute window closed",
        std::time::Duration::from_secs(90),
        async || (now_ms() > cutoff + 3_000).then_some(()),
    )
    .await;
    for (s, _) in &ingesters {
        s.trigger();
    }
    for (_, task) in ingesters {
        task.await.unwrap().expect("ingester ran");
    }
    world.caught_up(&w).await;
    converge("summaries equal the recount", DEADLINE, async || {
        recount_disagreements(&world, &rooms, &[Window::S1, Window::M1], Some(cutoff)).await
    })
    .await;

    let finals = world.finals().await;
    let mut compared = 0;
    let mut incomplete = Vec::new();
    for &room in &rooms {
        for w in [Window::S1, Window::M1] {
            for (start, t) in truth_windows(&sim, room, w) {
                if start + w.millis() > cutoff {
                    continue; // still open when traffic stopped
                }
                let s = finals.get(&(room, w.to_string(), start));
                let Some(s) = s else {
                    if t.danmaku + t.lottery + t.gifts + t.superchats + t.guards > 0 {
                        panic!("room {room} {w} window {start}: truth has {t:?}, no summary");
                    }
                    continue;
                };
                if !s.coverage.complete {
                    incomplete.push((room, w.to_string(), start));
                }
                let got = (
                    s.danmaku,
                    s.lottery_danmaku,
                    s.chatters,
                    s.gifts,
                    s.gift_mcny,
                    s.superchats,
                    s.superchat_mcny,
                    s.guards,
                );
                let want = (
                    t.danmaku,
                    t.lottery,
                    t.chatters.len() as u64,
                    t.gifts,
                    t.gift_mcny,
                    t.superchats,
                    t.superchat_mcny,
                    t.guards,
                );
                assert_eq!(got, want, "room {room} {w} window {start}");
                assert!(s.chatters_reliable, "logged in: identities not masked");
                compared += 1;
            }
        }
    }
    eprintln!(
        "compared {compared} windows with the simulator's truth; incomplete coverage: {incomplete:?}"
    );
    assert!(compared >= 40, "only {compared} windows compared");
    // Coverage: each room's last minute was observed at least from when the last room
    // connected, and never longer than the minute.
    for &room in &rooms {
        let s = &finals[&(room, "1m".to_owned(), cutoff - 60_000)];
        let observed = s.coverage.connected_ms as i64;
        let expected = (cutoff - connected).min(60_000);
        assert!(
            observed >= expected - 1_000 && observed <= 60_000,
            "room {room}: {observed} ms connected, expected about {expected}"
        );
    }
}
