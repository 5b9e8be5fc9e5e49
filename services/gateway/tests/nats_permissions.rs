//! NATS users and permissions, as the Kubernetes manifests deploy them: a real `nats-server`
//! loads `k8s/base/nats/auth.conf` itself (the file the `nats-config` ConfigMap holds, passwords
//! from the environment as the StatefulSet gives them from the `bilipulse-nats-users` Secret).
//!
//! Then every service runs as its own user, as a process of its own: the simulator as Bilibili,
//! an ingester, a windower and the gateway. Each must do its job without being refused anything
//! (a summary of the room reaches a WebSocket client; the gateway adds a room; the `reader` user
//! reads summaries through JetStream and events by core subscription; the server logs no
//! violation), and each must be refused the rest: publishing events or summaries it does not
//! produce, writing desired rooms, deleting a stream, reading another user's replies. What was
//! refused must not have landed: the admin user finds no fake message and every stream intact.
//!
//! The ingester and windower binaries are taken from this test's target directory, as in
//! `tracing.rs` (`cargo build --workspace --bins` first when running this file alone).

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_nats::jetstream;
use bilipulse_proto::subject::{self, Window};
use bilipulse_proto::{Kind, streams};
use bilipulse_runtime::bus;
use bilipulse_runtime::config::{NatsConfig, StreamOverrides};
use bilipulse_testkit::NatsServer;
use bilipulse_testkit::nats::free_port;
use bilipulse_testkit::process::ServiceProcess;
use common::*;
use futures::StreamExt as _;
use serde_json::json;

const ROOM: u64 = 23_058_101;
/// A room nobody observes: fake messages are aimed at it, so any that landed is found.
const FAKE_ROOM: u64 = 999_000_111;
const SESSDATA: &str = "perm%2Csessdata%2C6262";
const UID: u64 = 6262;

/// The users of auth.conf and the passwords this test gives them (the Secret's keys).
const USERS: [(&str, &str); 5] = [
    ("ingester", "test-pw-ingester-7c1"),
    ("windower", "test-pw-windower-2b9"),
    ("gateway", "test-pw-gateway-4e0"),
    ("reader", "test-pw-reader-91d"),
    ("admin", "test-pw-admin-d55"),
];

fn password(user: &str) -> &'static str {
    USERS
        .iter()
        .find(|(u, _)| *u == user)
        .map(|(_, p)| *p)
        .expect("a user of the test")
}

/// The manifests' authorization block.
fn auth_conf() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../k8s/base/nats/auth.conf")
}

fn config_for(nats: &NatsServer, user: &str) -> NatsConfig {
    let mut cfg = NatsConfig::new(nats.url());
    cfg.user = Some(user.to_owned());
    cfg.password = Some(password(user).to_owned());
    cfg
}

/// A JetStream context of `user` that gives up on an answer after a second: a refused request
/// is never answered, and the refusals below should not take five seconds each.
async fn js_as(nats: &NatsServer, user: &str) -> jetstream::Context {
    let client = bus::connect(&config_for(nats, user), &format!("test-{user}"))
        .await
        .unwrap_or_else(|e| panic!("{user} connects: {e}"));
    let mut js = bus::jetstream(client);
    js.set_timeout(Duration::from_secs(1));
    js
}

/// Spawns a service as `user`, its password in the environment as the manifests pass it.
fn spawn_as(
    bin: &Path,
    user: &str,
    dir: &Path,
    nats: &NatsServer,
    flags: &[(&str, String)],
) -> ServiceProcess {
    let mut flags: BTreeMap<String, String> = flags
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    flags.insert("--nats-url".into(), nats.url());
    flags.insert("--log".into(), "info".into());
    ServiceProcess::spawn_with_env(
        bin,
        user,
        dir,
        &flags,
        &[
            ("BILIPULSE_NATS_USER", user),
            ("BILIPULSE_NATS_PASSWORD", password(user)),
        ],
    )
}

/// The server's permission violations logged so far.
fn violations(nats: &NatsServer) -> Vec<String> {
    nats.log()
        .lines()
        .filter(|l| l.contains("Violation"))
        .map(str::to_owned)
        .collect()
}

/// Whether `subject` holds any message in `stream`, asked as admin.
async fn holds(admin: &jetstream::Context, stream: &str, subject: &str) -> bool {
    let s = admin.get_stream(stream).await.expect("stream exists");
    s.get_last_raw_message_by_subject(subject).await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_service_user_does_its_job_and_nothing_else() {
    let Some((ingester_bin, windower_bin)) = service_binaries() else {
        return;
    };
    let env: Vec<(String, &str)> = USERS
        .iter()
        .map(|(u, p)| (format!("NATS_PASSWORD_{}", u.to_uppercase()), *p))
        .collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let auth = auth_conf();
    let Some(nats) = NatsServer::start_with_config("include ./auth.conf\n", &[&auth], &env) else {
        return;
    };
    let dir = tempfile::Builder::new()
        .prefix("nats-permissions-")
        .tempdir()
        .expect("temp dir");
    let dir = dir.path();

    // Without a password nobody gets in.
    let anonymous = bus::connect(&NatsConfig::new(nats.url()), "anonymous").await;
    assert!(anonymous.is_err(), "an anonymous client was let in");

    // The admin user sets up the bus as an operator's job would, and registers the room.
    let admin = js_as(&nats, "admin").await;
    bus::ensure_streams(&admin, &StreamOverrides::default())
        .await
        .expect("admin creates the streams");
    let rooms = bus::ensure_bucket(&admin, &streams::ROOMS, &StreamOverrides::default())
        .await
        .expect("admin creates bili_rooms");
    bilipulse_runtime::rooms::put(&rooms, ROOM, None, "permission test room")
        .await
        .expect("admin writes a desired room");

    let (sim, cookie) = simulated_room(ROOM, SESSDATA, UID, dir).await;
    let base = sim.http_base().to_string();

    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let gateway = spawn_as(
        env!("CARGO_BIN_EXE_bilipulse-gateway").as_ref(),
        "gateway",
        dir,
        &nats,
        &[
            ("--listen", listen.to_string()),
            ("--api-token", TOKEN.into()),
            ("--no-resolve", "true".into()),
        ],
    );
    let ingester = spawn_as(
        &ingester_bin,
        "ingester",
        dir,
        &nats,
        &[
            ("--id", "ing-0".into()),
            ("--bili-api-base", base.clone()),
            ("--bili-live-base", base),
            ("--bili-ws-scheme", "ws".into()),
            ("--bili-http-interval", "2ms".into()),
            ("--bili-cookie-file", cookie.display().to_string()),
            ("--bili-uid", UID.to_string()),
            ("--status-interval", "1s".into()),
        ],
    );
    let windower = spawn_as(
        &windower_bin,
        "windower",
        dir,
        &nats,
        &[
            ("--id", "w-0".into()),
            ("--windows", "1s,1m".into()),
            ("--lateness", "1s".into()),
            ("--checkpoint-interval", "200ms".into()),
        ],
    );
    for (name, p) in [
        ("gateway", &gateway),
        ("ingester", &ingester),
        ("windower", &windower),
    ] {
        converge(&format!("{name} ready"), DEADLINE, async || {
            if p.is_ready().await {
                Ok(())
            } else {
                Err(format!(
                    "log:\n{}\nviolations:\n{}",
                    p.log_tail(),
                    violations(&nats).join("\n")
                ))
            }
        })
        .await;
    }

    // The whole chain works under the users: a summary of the room reaches a browser.
    let mut client = WsClient::connect(&format!("ws://{listen}/ws")).await;
    client
        .request(json!({"op": "subscribe", "rooms": [ROOM], "channels": ["1s"], "history": true}))
        .await;
    let reached = tokio::time::timeout(DEADLINE, client.until(|v| v["type"] == "message")).await;
    assert!(
        reached.is_ok(),
        "no summary reached the WebSocket client; violations:\n{}\ningester:\n{}\nwindower:\n{}",
        violations(&nats).join("\n"),
        ingester.log_tail(),
        windower.log_tail()
    );
    eprintln!("a summary reached the browser");

    // The gateway writes desired rooms for POST /api/rooms.
    let added = reqwest::Client::new()
        .post(format!("http://{listen}/api/rooms"))
        .bearer_auth(TOKEN)
        .json(&json!({"id": 23_058_102u64}))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("POST /api/rooms answers");
    assert!(
        added.status().is_success(),
        "POST /api/rooms: {}",
        added.status()
    );
    assert!(
        rooms
            .get("23058102")
            .await
            .expect("bili_rooms readable")
            .is_some(),
        "the gateway's write landed"
    );

    // Other tools read as `reader`: summaries through JetStream, events by core subscription.
    let reader = js_as(&nats, "reader").await;
    let summaries = reader
        .get_stream(streams::SUMMARY.name)
        .await
        .expect("reader sees BILI_SUMMARY");
    let consumer = summaries
        .create_consumer(jetstream::consumer::pull::OrderedConfig {
            filter_subject: subject::summary(ROOM, Window::S1),
            ..Default::default()
        })
        .await
        .expect("reader creates a consumer of its own");
    let mut messages = consumer.messages().await.expect("reader consumes");
    let first = tokio::time::timeout(DEADLINE, messages.next())
        .await
        .expect("a summary within the deadline")
        .expect("the consumer yields")
        .expect("a summary");
    assert_eq!(first.subject.as_str(), subject::summary(ROOM, Window::S1));
    let mut events = reader
        .client()
        .subscribe(format!("bili.event.{ROOM}.>"))
        .await
        .expect("reader subscribes");
    tokio::time::timeout(DEADLINE, events.next())
        .await
        .expect("an event within the deadline")
        .expect("an event");

    eprintln!("the reader read summaries and events");
    let before = violations(&nats);
    assert!(
        before.is_empty(),
        "every service did its job without a refusal, but the server logged:\n{}",
        before.join("\n")
    );

    // Now what each user must not do.
    let fake_event = subject::event(FAKE_ROOM, Kind::Danmaku);
    let fake_summary = subject::summary(FAKE_ROOM, Window::S1);
    let mut refused = Vec::new();
    for user in ["ingester", "windower", "gateway", "reader"] {
        let js = js_as(&nats, user).await;
        if user != "ingester" {
            let r = js.publish(fake_event.clone(), "fake".into()).await;
            let acked = match r {
                Ok(ack) => ack.await.is_ok(),
                Err(_) => false,
            };
            assert!(!acked, "{user} published a fake event");
            refused.push(format!("{user}: publish {fake_event}"));
        }
        if user != "windower" {
            let r = js.publish(fake_summary.clone(), "fake".into()).await;
            let acked = match r {
                Ok(ack) => ack.await.is_ok(),
                Err(_) => false,
            };
            assert!(!acked, "{user} published a fake summary");
            refused.push(format!("{user}: publish {fake_summary}"));
        }
        if user != "gateway" {
            let store = js.get_key_value(streams::ROOMS.bucket).await;
            let wrote = match store {
                Ok(s) => s.put(FAKE_ROOM.to_string(), "{}".into()).await.is_ok(),
                Err(_) => false,
            };
            assert!(!wrote, "{user} wrote a desired room");
            refused.push(format!("{user}: put bili_rooms"));
        }
        for stream in [streams::EVENTS.name, streams::SUMMARY.name] {
            assert!(
                js.delete_stream(stream).await.is_err(),
                "{user} deleted {stream}"
            );
            refused.push(format!("{user}: delete {stream}"));
        }
        // Another user's replies: subscribing is refused (logged; nothing arrives).
        let spy = js
            .client()
            .subscribe("_INBOX.gateway.>")
            .await
            .expect("the subscribe is sent");
        drop(spy);
        js.client().flush().await.expect("flush");
    }

    // Nothing refused landed, and every stream is intact.
    assert!(
        !holds(&admin, streams::EVENTS.name, &fake_event).await,
        "a fake event landed"
    );
    assert!(
        !holds(&admin, streams::SUMMARY.name, &fake_summary).await,
        "a fake summary landed"
    );
    assert!(
        rooms
            .get(FAKE_ROOM.to_string())
            .await
            .expect("readable")
            .is_none(),
        "a fake desired room landed"
    );
    for spec in streams::ALL_STREAMS {
        admin
            .get_stream(spec.name)
            .await
            .unwrap_or_else(|e| panic!("{} still exists: {e}", spec.name));
    }
    // The server saw and refused each attempt (its log names the user and the subject).
    let after = violations(&nats);
    for user in ["ingester", "windower", "gateway", "reader"] {
        assert!(
            after.iter().any(|l| l.contains(&format!("user:{user}\""))
                && l.contains("Publish Violation")
                && l.contains("$JS.API.STREAM.DELETE.BILI_EVENTS")),
            "no refused stream deletion logged for {user}:\n{}",
            after.join("\n")
        );
        if user != "gateway" {
            assert!(
                after.iter().any(|l| l.contains(&format!("user:{user}\""))
                    && l.contains("Subscription Violation")
                    && l.contains("_INBOX.gateway.>")),
                "no refused subscription to the gateway's replies logged for {user}"
            );
        }
    }
    eprintln!("refused, as expected: {}", refused.join("; "));
    drop((gateway, ingester, windower, sim));
}
