//! The dashboard in a real browser (Debian's Chromium, headless, through playwright-core) on the
//! whole stack: the simulator as Bilibili, an ingester, the windower, the gateway. The charts hold
//! exactly the summaries NATS holds, the ticker shows a danmaku the simulator sent, and after the
//! gateway is killed and restarted the page reconnects and has no hole.
//!
//! Screenshots go to `BILIPULSE_SCREENSHOTS` when set (that is how `docs/dashboard-*.png` are
//! made), else into the scenario's temporary directory.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use bilipulse_proto::subject::{self, Window};
use bilipulse_proto::{WindowSummary, streams};
use bilipulse_runtime::shutdown::Shutdown;
use bilipulse_sim::{Account, Profile, RoomSpec, SimConfig};
use bilipulse_testkit::browser::Browser;
use clap::Parser as _;
use common::*;
use serde_json::Value;

const ROOM: u64 = 21_452_505;
const SESSDATA: &str = "browser%2Csessdata%2C5151";
const UID: u64 = 5151;

/// The highest revision of every `1s` summary of the room, by window start.
async fn summaries(world: &World) -> BTreeMap<i64, WindowSummary> {
    let stored = bilipulse_testkit::jetstream::read(
        &world.js,
        streams::SUMMARY.name,
        &subject::summary(ROOM, Window::S1),
    )
    .await;
    let mut out: BTreeMap<i64, WindowSummary> = BTreeMap::new();
    for m in stored {
        let s: WindowSummary = bilipulse_proto::decode(&m.payload).expect("summary");
        if out.get(&s.start).is_none_or(|old| old.rev < s.rev) {
            out.insert(s.start, s);
        }
    }
    out
}

/// A chart series from the page: `[[x, y], …]` with y possibly null.
async fn series(b: &mut Browser, chart: &str, name: &str) -> Vec<(i64, Option<f64>)> {
    let v = b
        .eval(&format!("window.__bilipulse.series('{chart}', '{name}')"))
        .await
        .expect("series");
    v.as_array()
        .map(|points| {
            points
                .iter()
                .filter_map(|p| Some((p[0].as_i64()?, p[1].as_f64())))
                .collect()
        })
        .unwrap_or_default()
}

/// Compares the chart's chatters and audience points with NATS; `Err` says what differs.
async fn chart_matches_nats(
    b: &mut Browser,
    world: &World,
    min_points: usize,
) -> Result<usize, String> {
    let chatters = series(b, "audience", "chatters").await;
    let online = series(b, "audience", "online_count").await;
    let nats = summaries(world).await;
    if chatters.len() < min_points {
        return Err(format!("{} chatter points", chatters.len()));
    }
    for (x, y) in &chatters {
        let s = nats
            .get(x)
            .ok_or(format!("chart point at {x} is not in NATS"))?;
        if *y != Some(s.chatters as f64) {
            return Err(format!("chatters at {x}: chart {y:?}, NATS {}", s.chatters));
        }
    }
    for (x, y) in &online {
        let s = nats
            .get(x)
            .ok_or(format!("audience point at {x} is not in NATS"))?;
        if let Some(y) = y
            && Some(*y) != s.online_count.map(|v| v as f64)
        {
            return Err(format!(
                "online_count at {x}: chart {y}, NATS {:?}",
                s.online_count
            ));
        }
    }
    Ok(chatters.len())
}

fn screenshot_path(world: &World, name: &str) -> PathBuf {
    match std::env::var_os("BILIPULSE_SCREENSHOTS") {
        Some(dir) => PathBuf::from(dir).join(name),
        None => world.dir.path().join(name),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_what_nats_holds_and_recovers_after_a_gateway_restart() {
    let Some(driver) = bilipulse_testkit::require(
        "the dashboard, its browser driver and Chromium (deploy/install-tools.sh)",
        bilipulse_testkit::tools::browser_driver()
            .filter(|_| bilipulse_testkit::tools::dashboard_dist().is_some()),
    ) else {
        return;
    };
    let Some(world) = World::start().await else {
        return;
    };
    // Bilibili: one busy room, and an account the ingester logs in with (identities unmasked).
    let mut cfg = SimConfig::for_tests(&[RoomSpec::new(ROOM, Profile::Busy).with_rate(30.0)]);
    cfg.heartbeat_timeout_ms = 120_000;
    cfg.accounts = vec![Account {
        sessdata: SESSDATA.into(),
        uid: UID,
        uname: "browser".into(),
    }];
    let sim = bilipulse_sim::start(cfg).await.expect("simulator starts");
    let cookie = world.dir.path().join("sessdata");
    std::fs::write(&cookie, SESSDATA).expect("cookie file");
    world.add_room(ROOM, Some(5269)).await;

    let base = sim.http_base().to_string();
    let ingester =
        bilipulse_ingester::Config::try_parse_from(bilipulse_testkit::stack::logged_in_ingester(
            "ing-0",
            &world.nats.url(),
            &base,
            &cookie,
            UID,
        ))
        .expect("ingester flags");
    let windower = bilipulse_windower::Config::try_parse_from([
        "bilipulse-windower",
        "--id=w-0",
        &format!("--nats-url={}", world.nats.url()),
        "--admin-addr=127.0.0.1:0",
        "--windows=1s,1m",
        "--lateness=1s",
        "--checkpoint-interval=200ms",
    ])
    .expect("windower flags");
    let stop = Shutdown::new();
    let ingester_task = tokio::spawn(bilipulse_ingester::run(ingester, stop.clone()));
    let windower_task = tokio::spawn(bilipulse_windower::run(windower, stop.clone()));
    let mut gw = world.gateway("gw-1", &[]).await;
    // The restarted gateway takes the same address, as a Service keeps it in a cluster.
    let listen = gw.addr.to_string();

    let mut b = Browser::launch(&driver).await.expect("browser starts");
    b.goto(&gw.url("/#/room/5269?range=5m"))
        .await
        .expect("room page");
    b.wait("window.__bilipulse.state() === 'open'", DEADLINE)
        .await
        .expect("WebSocket open");
    let points = converge(
        "the charts equal NATS",
        Duration::from_secs(90),
        async || chart_matches_nats(&mut b, &world, 8).await,
    )
    .await;

    // The ticker shows danmaku the simulator sent.
    let ticker = b
        .wait(
            "(() => { const t = window.__bilipulse.ticker().filter(e => e.kind === 'danmaku'); \
             return t.length > 0 ? t : null; })()",
            DEADLINE,
        )
        .await
        .expect("ticker filled");
    let shown: Vec<String> = ticker
        .as_array()
        .expect("ticker entries")
        .iter()
        .filter_map(|e| e["text"].as_str().map(str::to_owned))
        .collect();
    let sent: Vec<String> = sim
        .truth()
        .events_of(ROOM)
        .into_iter()
        .filter(|r| r.kind == "danmaku")
        .filter_map(|r| r.text)
        .collect();
    assert!(
        shown.iter().any(|t| sent.contains(t)),
        "the ticker shows a danmaku the simulator sent: {shown:?}"
    );
    b.screenshot(&screenshot_path(&world, "dashboard-room.png"))
        .await
        .expect("screenshot");

    // The overview: the room as a card (its per-minute figures need a closed minute, which this
    // short run may not have: they show "—" until then).
    b.goto(&gw.url("/#/")).await.expect("overview");
    let card = b
        .wait(
            &format!(
                "document.querySelector('#cards article.card[data-room=\"{ROOM}\"]')?.textContent ?? null"
            ),
            DEADLINE,
        )
        .await
        .expect("the room's card");
    assert!(
        card.as_str().is_some_and(|t| t.contains("5269")),
        "the card names the short id: {card}"
    );
    b.screenshot(&screenshot_path(&world, "dashboard-overview.png"))
        .await
        .expect("screenshot");

    // Kill the gateway under the open room page; start it again on the same port.
    b.goto(&gw.url("/#/room/5269?range=5m"))
        .await
        .expect("room page");
    b.wait("window.__bilipulse.state() === 'open'", DEADLINE)
        .await
        .expect("WebSocket open");
    converge("the charts equal NATS again", DEADLINE, async || {
        chart_matches_nats(&mut b, &world, points.min(8)).await
    })
    .await;
    gw.process.kill9();
    let killed_at = now_ms();
    b.wait("window.__bilipulse.state() !== 'open'", DEADLINE)
        .await
        .expect("the page notices");
    // Windows keep closing while the gateway is down.
    eventually(
        "five windows closed during the outage",
        DEADLINE,
        async || (now_ms() > killed_at + 5_000).then_some(()),
    )
    .await;
    gw = world.gateway("gw-2", &[("--listen", &listen)]).await;
    b.wait("window.__bilipulse.state() === 'open'", DEADLINE)
        .await
        .expect("the page reconnects");
    let recovered_at = now_ms();
    converge(
        "no hole after the restart",
        Duration::from_secs(90),
        async || {
            chart_matches_nats(&mut b, &world, 8).await?;
            let xs: Vec<i64> = series(&mut b, "audience", "chatters")
                .await
                .into_iter()
                .map(|(x, _)| x)
                .collect();
            let nats = summaries(&world).await;
            let from = killed_at - 10_000;
            let missing: Vec<i64> = nats
                .keys()
                .copied()
                .filter(|s| *s >= from && *s < recovered_at - 2_000 && !xs.contains(s))
                .collect();
            if missing.is_empty() {
                Ok(())
            } else {
                Err(format!("windows in NATS but not on the chart: {missing:?}"))
            }
        },
    )
    .await;
    let errors: Vec<Value> = b.errors().await.expect("errors");
    let script_errors: Vec<&Value> = errors.iter().filter(|e| e["type"] == "pageerror").collect();
    assert!(
        script_errors.is_empty(),
        "no script errors: {script_errors:?}"
    );
    b.close().await.expect("browser closes");
    stop.trigger();
    let _ = ingester_task.await;
    let _ = windower_task.await;
    drop(gw);
}
