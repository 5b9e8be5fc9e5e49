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
//! Finally no log of the run (every service at debug level, and nats-server's) holds a
//! password, the SESSDATA cookie or the gateway's API token.
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
use bilipulse_runtime::config::NatsConfig;
use bilipulse_testkit::NatsServer;
use bilipulse_testkit::nats::free_port;
use bilipulse_testkit::process::ServiceProcess;
use common::*;
use futures::StreamExt as _;
use serde_json::json;

const ROOM: u64 = 23_058_101;
/// The room the gateway adds through POST /api/rooms.
const ADDED_ROOM: u64 = 23_058_102;
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

/// The users whose refusals are checked (admin may do everything).
const SERVICE_USERS: [&str; 4] = ["ingester", "windower", "gateway", "reader"];

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
    world: &World,
    mut flags: BTreeMap<String, String>,
) -> ServiceProcess {
    flags.insert("--nats-url".into(), world.nats.url());
    // Debug, so the secrets check below reads everything the services say, their
    // libraries' connection set-up included.
    flags.insert("--log".into(), "debug".into());
    ServiceProcess::spawn_with_env(
        bin,
        user,
        world.dir.path(),
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

/// Whether JetStream stored and acknowledged a message `js` published on `subject`.
async fn acked(js: &jetstream::Context, subject: &str) -> bool {
    match js.publish(subject.to_owned(), "fake".into()).await {
        Ok(ack) => ack.await.is_ok(),
        Err(_) => false,
    }
}

/// The services of the test, each under its own user.
struct Services {
    gateway: ServiceProcess,
    ingester: ServiceProcess,
    windower: ServiceProcess,
    /// The gateway's public address.
    listen: SocketAddr,
}

/// Starts the gateway, an ingester of the simulated room and a windower under their users, and
/// waits until each is ready (a refusal at start-up shows in the failure with the log).
async fn start_services(
    world: &World,
    (ingester_bin, windower_bin): &(PathBuf, PathBuf),
    sim_base: &str,
    cookie: &Path,
) -> Services {
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let gateway = spawn_as(
        env!("CARGO_BIN_EXE_bilipulse-gateway").as_ref(),
        "gateway",
        world,
        flags(&[
            ("--listen", listen.to_string()),
            ("--api-token", TOKEN.into()),
            ("--no-resolve", "true".into()),
        ]),
    );
    let ingester = spawn_as(
        ingester_bin,
        "ingester",
        world,
        bilipulse_testkit::stack::logged_in_ingester_flags("ing-0", sim_base, cookie, UID),
    );
    let windower = spawn_as(
        windower_bin,
        "windower",
        world,
        scenario_windower_flags("w-0"),
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
                    violations(&world.nats).join("\n")
                ))
            }
        })
        .await;
    }
    Services {
        gateway,
        ingester,
        windower,
        listen,
    }
}

/// Each service does its job under its user: a summary reaches a WebSocket client, the gateway
/// adds a room, and `reader` reads summaries through JetStream and events by core subscription.
async fn each_does_its_job(world: &World, services: &Services) {
    let listen = services.listen;
    let mut client = WsClient::connect(&format!("ws://{listen}/ws")).await;
    client
        .request(json!({"op": "subscribe", "rooms": [ROOM], "channels": ["1s"], "history": true}))
        .await;
    let reached = tokio::time::timeout(DEADLINE, client.until(|v| v["type"] == "message")).await;
    assert!(
        reached.is_ok(),
        "no summary reached the WebSocket client; violations:\n{}\ningester:\n{}\nwindower:\n{}",
        violations(&world.nats).join("\n"),
        services.ingester.log_tail(),
        services.windower.log_tail()
    );

    // The gateway writes desired rooms for POST /api/rooms.
    let added = reqwest::Client::new()
        .post(format!("http://{listen}/api/rooms"))
        .bearer_auth(TOKEN)
        .json(&json!({ "id": ADDED_ROOM }))
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
        world
            .rooms
            .get(ADDED_ROOM.to_string())
            .await
            .expect("bili_rooms readable")
            .is_some(),
        "the gateway's write landed"
    );

    // Other tools read as `reader`: summaries through JetStream, events by core subscription.
    let reader = js_as(&world.nats, "reader").await;
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
}

/// Each service user is refused what is not its job; nothing refused lands, every stream stays,
/// and the server logged each refusal.
async fn each_is_refused_the_rest(world: &World) {
    let fake_event = subject::event(FAKE_ROOM, Kind::Danmaku);
    let fake_summary = subject::summary(FAKE_ROOM, Window::S1);
    for user in SERVICE_USERS {
        let js = js_as(&world.nats, user).await;
        if user != "ingester" {
            assert!(
                !acked(&js, &fake_event).await,
                "{user} published a fake event"
            );
        }
        if user != "windower" {
            assert!(
                !acked(&js, &fake_summary).await,
                "{user} published a fake summary"
            );
        }
        if user != "gateway" {
            let wrote = match js.get_key_value(streams::ROOMS.bucket).await {
                Ok(s) => s.put(FAKE_ROOM.to_string(), "{}".into()).await.is_ok(),
                Err(_) => false,
            };
            assert!(!wrote, "{user} wrote a desired room");
        }
        for stream in [streams::EVENTS.name, streams::SUMMARY.name] {
            assert!(
                js.delete_stream(stream).await.is_err(),
                "{user} deleted {stream}"
            );
        }
        // Another user's replies: subscribing is refused (logged; nothing arrives). The
        // gateway's own inbox is the gateway's to read, so its attempt is no refusal.
        let spy = js
            .client()
            .subscribe("_INBOX.gateway.>")
            .await
            .expect("the subscribe is sent");
        drop(spy);
        js.client().flush().await.expect("flush");
    }

    // Nothing refused landed, and every stream is intact.
    let admin = &world.js;
    assert!(
        !holds(admin, streams::EVENTS.name, &fake_event).await,
        "a fake event landed"
    );
    assert!(
        !holds(admin, streams::SUMMARY.name, &fake_summary).await,
        "a fake summary landed"
    );
    assert!(
        world
            .rooms
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
    let after = violations(&world.nats);
    for user in SERVICE_USERS {
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_service_user_does_its_job_and_nothing_else() {
    let Some(binaries) = service_binaries() else {
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

    // Without a password nobody gets in.
    let anonymous = bus::connect(&NatsConfig::new(nats.url()), "anonymous").await;
    assert!(anonymous.is_err(), "an anonymous client was let in");

    // The admin user sets up the bus as an operator's job would, and registers the room.
    let admin = config_for(&nats, "admin");
    let world = World::on(nats, &admin).await;
    world.add_room(ROOM, None).await;
    let (sim, cookie) = simulated_room(ROOM, SESSDATA, UID, world.dir.path()).await;
    let services = start_services(&world, &binaries, sim.http_base().as_str(), &cookie).await;

    each_does_its_job(&world, &services).await;
    let before = violations(&world.nats);
    assert!(
        before.is_empty(),
        "every service did its job without a refusal, but the server logged:\n{}",
        before.join("\n")
    );

    each_is_refused_the_rest(&world).await;
    no_secret_in_any_log(&world, &services);
    drop((services, sim));
}

/// Nothing any process wrote during the run holds a password, the cookie or the API token.
/// The services logged at debug level, so the libraries' own connection logs are read too.
fn no_secret_in_any_log(world: &World, services: &Services) {
    let decoded_cookie = SESSDATA.replace("%2C", ",");
    let mut secrets: Vec<(&str, &str)> = USERS.iter().map(|(u, p)| (*u, *p)).collect();
    secrets.extend([
        ("SESSDATA cookie", SESSDATA),
        ("SESSDATA cookie, decoded", decoded_cookie.as_str()),
        ("API token", TOKEN),
    ]);
    let logs = [
        ("gateway", services.gateway.log()),
        ("ingester", services.ingester.log()),
        ("windower", services.windower.log()),
        ("nats-server", world.nats.log()),
    ];
    for (process, log) in &logs {
        // An empty log would pass vacuously: each one has logged its start at least.
        assert!(
            log.lines().count() > 5,
            "{process} logged almost nothing:\n{log}"
        );
        for (what, secret) in &secrets {
            if let Some(line) = log.lines().find(|l| l.contains(secret)) {
                panic!("{process}'s log holds the {what}: {line}");
            }
        }
    }
}
