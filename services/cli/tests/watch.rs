//! `bilipulse watch` against the simulator over real sockets: the full resolve path, the
//! `--count` report matching the simulator's ground truth, and `--url` straight to `/sub`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use bilipulse_sim::{Profile, RoomSpec, SimConfig, SimHandle};
use bilipulse_testkit::wait::eventually;
use serde_json::Value;

const ROOM: u64 = 21452505;
const SHORT: u64 = 5269;

async fn sim() -> SimHandle {
    let mut spec = RoomSpec::new(ROOM, Profile::Busy);
    spec.short_id = Some(SHORT);
    spec.rate = 80.0;
    let mut cfg = SimConfig::for_tests(&[spec]);
    // The CLI's client heartbeats every 30 s like a browser; keep the simulator's patience real.
    cfg.heartbeat_timeout_ms = 60_000;
    bilipulse_sim::start(cfg).await.expect("simulator starts")
}

fn watch_cmd(sim: &SimHandle) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bilipulse"));
    let base = sim.http_base().to_string();
    c.arg("watch")
        .args([
            "--bili-api-base",
            &base,
            "--bili-live-base",
            &base,
            "--bili-ws-scheme",
            "ws",
        ])
        .args(["--bili-http-interval", "0s"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Waits (up to 20 s) until the simulator has an authenticated connection and has delivered
/// some events to it.
async fn until_flowing(sim: &SimHandle) {
    eventually(
        "events to flow to the watch",
        Duration::from_secs(20),
        async || {
            let delivered: u64 = sim.truth().counts(ROOM).values().sum();
            (sim.open_connections() > 0 && delivered >= 50).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_mode_matches_the_ground_truth_by_kind() {
    let sim = sim().await;
    // Watch by short id: the resolve path (finger/spi, nav, get_info, signed getDanmuInfo) runs.
    let child = watch_cmd(&sim)
        .args(["--count", "--seconds", "8"])
        .arg(SHORT.to_string())
        .spawn()
        .expect("spawn bilipulse watch");
    until_flowing(&sim).await;
    // Stop traffic well before the watch ends; queued frames still reach it in milliseconds.
    sim.pause_traffic().await;
    let expected = sim.truth().counts(ROOM);
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .expect("watch exits");
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut report_lines = stdout.lines();
    let report: Value =
        serde_json::from_str(report_lines.next().expect("one report line")).unwrap();
    assert!(
        report_lines.next().is_none(),
        "count mode prints only the report"
    );

    let mut by_kind: BTreeMap<String, u64> =
        serde_json::from_value(report["by_kind"].clone()).unwrap();
    // The anonymous connection gets one LOG_IN_NOTICE of its own, which is not room traffic.
    if let Some(other) = by_kind.get_mut("other") {
        *other -= 1;
    }
    by_kind.retain(|_, n| *n > 0);
    let expected: BTreeMap<String, u64> = expected
        .iter()
        .map(|(k, n)| (k.as_str().to_owned(), *n))
        .collect();
    assert_eq!(
        by_kind, expected,
        "events by kind equal what the simulator delivered"
    );
    let commands: u64 = sim.truth().delivered_cmds(ROOM).values().sum();
    assert_eq!(
        report["messages"].as_u64(),
        Some(commands + 1),
        "every command (+ LOG_IN_NOTICE) counted"
    );
    assert!(report["cpu_s"].as_f64().unwrap() > 0.0);
    assert!(report["wall_s"].as_f64().unwrap() >= 8.0);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_url_prints_events_as_json_lines() {
    let sim = sim().await;
    let token = sim.issue_token(ROOM, bilipulse_bilibili::resolve::DEFAULT_USER_AGENT, 0);
    let buvid = sim.issue_buvid();
    let mut child = watch_cmd(&sim)
        .args([
            "--url",
            sim.ws_url().as_str(),
            "--token",
            &token,
            "--buvid",
            &buvid,
        ])
        .arg(ROOM.to_string())
        .spawn()
        .expect("spawn bilipulse watch");
    let stdout = child.stdout.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .take(20)
            .map(|l| serde_json::from_str::<Value>(&l.unwrap()).unwrap())
            .collect::<Vec<_>>()
    });
    let lines = tokio::time::timeout(Duration::from_secs(20), lines)
        .await
        .expect("20 events within 20 s")
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(lines.len(), 20);
    for ev in &lines {
        assert_eq!(ev["room"].as_u64(), Some(ROOM));
        assert_eq!(ev["src"], "watch");
        assert!(
            ev["kind"].is_string() && ev["id"].as_str().unwrap().starts_with(&format!("{ROOM}:"))
        );
    }
    sim.shutdown().await;
}
