//! Scenario: another team copies our Python or JavaScript consumer example, points it at a real
//! bilipulse NATS server and receives every kind of message. Each golden vector is published on
//! its real subject (KV values through a real KV bucket; the window summary and the live session
//! the way the windower publishes them, in one atomic batch into `BILI_SUMMARY` together with a
//! checkpoint), and what the consumer prints must equal the golden JSON twin, integers exactly
//! (one of them is above 2^53). The checkpoint is internal: the consumer must not print it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use async_nats::{Client, HeaderMap};
use bilipulse_proto::streams::{self, KvSpec};
use bilipulse_proto::{KeyGroup, Subject, subject};
use bilipulse_testkit::{NatsServer, require, tools};
use common::samples::{self, Message, golden_dir};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::timeout;

/// Generous bounds for external processes on a loaded 2-core machine.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const OUTPUT_TIMEOUT: Duration = Duration::from_secs(30);

/// One golden vector as read from disk.
struct Vector {
    name: &'static str,
    subject: String,
    bytes: Vec<u8>,
    json: Value,
    message: Message,
}

fn vectors() -> Vec<Vector> {
    let vectors: Vec<Vector> = samples::all()
        .into_iter()
        // Raw frames carry bytes (MessagePack `bin`), which the JSON-printing examples do not
        // handle; a tool that archives raw bodies reads them with its own consumer.
        .filter(|g| !matches!(g.message, Message::RawFrame(_)))
        .map(|g| {
            let bytes = std::fs::read(golden_dir().join(format!("{}.msgpack", g.name))).unwrap();
            let json = std::fs::read(golden_dir().join(format!("{}.json", g.name))).unwrap();
            // The subject comes from the file's own content, not from the sample.
            let message = g.message.decode_like(&bytes).unwrap();
            Vector {
                name: g.name,
                subject: message.subject(),
                bytes,
                json: serde_json::from_slice(&json).unwrap(),
                message,
            }
        })
        .collect();
    // Every public subject type that carries a message is exercised.
    let types: Vec<&str> = vectors
        .iter()
        .filter_map(|v| v.subject.parse::<Subject>().ok())
        .map(|s| match s {
            Subject::Event { .. } => "event",
            Subject::Raw { .. } => "raw",
            Subject::RawFrame { .. } => "rawframe",
            Subject::Status { .. } => "status",
            Subject::Summary { .. } => "summary",
            Subject::Session { .. } => "session",
        })
        .collect();
    for t in ["event", "status", "summary", "session"] {
        assert!(
            types.contains(&t),
            "no golden vector travels on a {t} subject"
        );
    }
    vectors
}

/// The wildcards a consumer of everything public subscribes to, as documented in
/// `proto/README.md`, plus `bili.wckpt.>`, which the consumers must skip by themselves.
fn subscriptions() -> Vec<String> {
    vec![
        subject::ALL_EVENTS.to_owned(),
        subject::ALL_STATUS.to_owned(),
        subject::ALL_SUMMARIES.to_owned(),
        subject::ALL_SESSIONS.to_owned(),
        "bili.wckpt.>".to_owned(),
        format!("$KV.{}.>", streams::ROOMS.bucket),
        format!("$KV.{}.>", streams::MEMBERS.bucket),
    ]
}

/// NATS subject matching: `*` matches one token, a final `>` one or more.
fn matches(pattern: &str, subject: &str) -> bool {
    let mut subject = subject.split('.');
    for p in pattern.split('.') {
        match (p, subject.next()) {
            (">", Some(_)) => return true,
            ("*", Some(_)) => {}
            (p, Some(t)) if p == t => {}
            _ => return false,
        }
    }
    subject.next().is_none()
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

async fn kv_bucket(js: &jetstream::Context, spec: KvSpec) -> jetstream::kv::Store {
    js.create_key_value(jetstream::kv::Config {
        bucket: spec.bucket.to_owned(),
        history: spec.history,
        limit_markers: spec.limit_markers,
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("create KV {}: {e}", spec.bucket))
}

/// `BILI_SUMMARY` with the contract's settings (atomic batch publish on).
async fn summary_stream(js: &jetstream::Context) {
    let spec = streams::SUMMARY;
    assert!(
        spec.allow_atomic,
        "the windower commits to BILI_SUMMARY in atomic batches"
    );
    js.create_stream(stream::Config {
        name: spec.name.to_owned(),
        subjects: spec.subjects.iter().map(|s| (*s).to_owned()).collect(),
        max_age: spec.max_age,
        duplicate_window: spec.duplicate_window,
        max_messages_per_subject: spec.max_msgs_per_subject,
        allow_atomic_publish: spec.allow_atomic,
        ..Default::default()
    })
    .await
    .expect("create BILI_SUMMARY");
}

/// Publishes `msgs` as one atomic batch (NATS 2.12, ADR-50), as the windower does: the first
/// message opens the batch as a request, the middle ones are plain publishes, the last commits.
/// Returns how many messages the server says it stored.
async fn atomic_batch(client: &Client, msgs: Vec<(String, bytes::Bytes)>) -> u64 {
    let n = msgs.len();
    assert!(n >= 2, "a batch of one is just a publish");
    for (i, (subject, payload)) in msgs.into_iter().enumerate() {
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Batch-Id", "consumers-test-batch");
        headers.insert("Nats-Batch-Sequence", (i + 1).to_string().as_str());
        if i + 1 == n {
            headers.insert("Nats-Batch-Commit", "1");
            let ack = client
                .request_with_headers(subject, headers, payload)
                .await
                .expect("batch commit answered");
            let ack: Value = serde_json::from_slice(&ack.payload).expect("JSON ack");
            assert!(ack.get("error").is_none(), "batch refused: {ack}");
            return ack["count"].as_u64().expect("ack counts the batch");
        } else if i == 0 {
            let reply = client
                .request_with_headers(subject, headers, payload)
                .await
                .expect("batch start answered");
            assert!(reply.payload.is_empty(), "batch not opened: {reply:?}");
        } else {
            client
                .publish_with_headers(subject, headers, payload)
                .await
                .expect("publish");
        }
    }
    unreachable!("the last message returns")
}

/// Publishes every vector on its subject: first the summary and the session in one atomic batch
/// with a windower checkpoint around them (a `.part` first, the head last, compact MessagePack
/// arrays as the windower writes them), so a consumer that failed to skip the checkpoint would
/// reach `--count` before the last vector; then events and statuses as plain messages, room
/// configs and members as KV puts.
async fn publish_all(url: &str, vectors: &[Vector]) {
    let client = async_nats::connect(url)
        .await
        .expect("connect to nats-server");
    let js = jetstream::new(client.clone());
    let rooms = kv_bucket(&js, streams::ROOMS).await;
    let members = kv_bucket(&js, streams::MEMBERS).await;
    summary_stream(&js).await;
    let head = subject::checkpoint(KeyGroup::of(samples::ROOM));
    let state = |n: u8| bytes::Bytes::from(vec![0x93, 0x01, n, 0xc0]);
    let mut batch = vec![(format!("{head}.part"), state(0))];
    for v in vectors {
        if matches!(v.message, Message::Summary(_) | Message::Session(_)) {
            batch.push((v.subject.clone(), bytes::Bytes::from(v.bytes.clone())));
        }
    }
    batch.push((head, state(1)));
    let count = batch.len() as u64;
    assert_eq!(
        atomic_batch(&client, batch).await,
        count,
        "the whole batch is stored"
    );
    for v in vectors {
        let payload = bytes::Bytes::from(v.bytes.clone());
        match &v.message {
            Message::Config(c) => {
                rooms
                    .put(c.room.to_string(), payload)
                    .await
                    .expect("KV put room");
            }
            Message::Member(m) => {
                members.put(&m.id, payload).await.expect("KV put member");
            }
            Message::Summary(_) | Message::Session(_) => {}
            _ => client
                .publish(v.subject.clone(), payload)
                .await
                .expect("publish"),
        }
    }
    client.flush().await.expect("flush");
}

/// Runs a consumer to completion: waits for READY, publishes, collects one JSON line per vector.
async fn run_consumer(mut cmd: Command, url: &str, vectors: &[Vector]) -> Vec<Value> {
    cmd.arg("--url")
        .arg(url)
        .arg("--count")
        .arg(vectors.len().to_string());
    for s in subscriptions() {
        cmd.arg("--subject").arg(s);
    }
    let mut child: Child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn consumer");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let stderr = child.stderr.take().unwrap();
    let stderr_text = tokio::spawn(async move {
        let mut s = String::new();
        let mut r = BufReader::new(stderr);
        let _ = tokio::io::AsyncReadExt::read_to_string(&mut r, &mut s).await;
        s
    });

    let ready = timeout(READY_TIMEOUT, lines.next_line()).await;
    if !matches!(&ready, Ok(Ok(Some(l))) if l == "READY") {
        let _ = child.kill().await;
        panic!(
            "consumer did not print READY (got {ready:?}); stderr:\n{}",
            stderr_text.await.unwrap()
        );
    }
    publish_all(url, vectors).await;

    let mut out = Vec::new();
    while out.len() < vectors.len() {
        match timeout(OUTPUT_TIMEOUT, lines.next_line()).await {
            Ok(Ok(Some(line))) => out.push(
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")),
            ),
            other => {
                let _ = child.kill().await;
                panic!(
                    "consumer printed {} of {} messages, then {other:?}; stderr:\n{}",
                    out.len(),
                    vectors.len(),
                    stderr_text.await.unwrap()
                );
            }
        }
    }
    let status = timeout(OUTPUT_TIMEOUT, child.wait())
        .await
        .expect("consumer exits after --count");
    let stderr = stderr_text.await.unwrap();
    assert!(
        status.is_ok_and(|s| s.success()),
        "consumer failed; stderr:\n{stderr}"
    );
    out
}

/// Equality as a consumer sees it: integers must be integers of exactly the same value; the
/// golden floats may come back as integers (JavaScript prints `30.0` as `30`) but with the same
/// value.
fn same(got: &Value, want: &Value) -> bool {
    match (got, want) {
        (Value::Number(g), Value::Number(w)) if w.is_f64() => g.as_f64() == w.as_f64(),
        (Value::Number(g), Value::Number(w)) => {
            !g.is_f64() && g.as_u64() == w.as_u64() && g.as_i64() == w.as_i64()
        }
        (Value::Array(g), Value::Array(w)) => {
            g.len() == w.len() && g.iter().zip(w).all(|(g, w)| same(g, w))
        }
        (Value::Object(g), Value::Object(w)) => {
            g.len() == w.len() && w.iter().all(|(k, w)| g.get(k).is_some_and(|g| same(g, w)))
        }
        _ => got == want,
    }
}

fn assert_every_vector_printed(consumer: &str, printed: &[Value], vectors: &[Vector]) {
    for line in printed {
        let subject = line["subject"].as_str().unwrap_or_default();
        assert!(
            !subject.starts_with("bili.wckpt."),
            "{consumer}: printed an internal checkpoint: {line}"
        );
    }
    for v in vectors {
        assert!(
            subscriptions().iter().any(|s| matches(s, &v.subject)),
            "{}: {} is not under any documented subscription",
            v.name,
            v.subject
        );
        let line = printed
            .iter()
            .find(|l| l["subject"] == v.subject.as_str())
            .unwrap_or_else(|| {
                panic!(
                    "{consumer}: nothing printed for {} on {}",
                    v.name, v.subject
                )
            });
        assert!(
            same(&line["message"], &v.json),
            "{consumer}: {} decoded differently\n got: {}\nwant: {}",
            v.name,
            line["message"],
            v.json
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_consumer_prints_every_golden_message_exactly() {
    let Some(python) = require("the tools venv (.tools/venv/bin/python)", tools::python()) else {
        return;
    };
    let Some(server) = NatsServer::start() else {
        return;
    };
    let vectors = vectors();
    let mut cmd = Command::new(python);
    cmd.arg(repo_root().join("proto/examples/python/consume.py"));
    let printed = run_consumer(cmd, &server.url(), &vectors).await;
    assert_every_vector_printed("python", &printed, &vectors);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_javascript_consumer_prints_every_golden_message_exactly() {
    let Some(node_modules) = require(
        "the JS consumer's packages (.tools/node/node_modules)",
        tools::node_modules(),
    ) else {
        return;
    };
    let node_found = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok();
    if require("node on PATH", node_found.then_some(())).is_none() {
        return;
    }
    let Some(server) = NatsServer::start() else {
        return;
    };
    // ES modules ignore NODE_PATH and resolve packages from the script's own directory, so
    // the script runs from a scratch directory that links to the installed node_modules.
    let scratch = Scratch::new("bilipulse-js-consumer");
    let script = scratch.0.join("consume.mjs");
    std::fs::copy(repo_root().join("proto/examples/js/consume.mjs"), &script).unwrap();
    std::os::unix::fs::symlink(&node_modules, scratch.0.join("node_modules")).unwrap();

    let vectors = vectors();
    let mut cmd = Command::new("node");
    cmd.arg(&script);
    let printed = run_consumer(cmd, &server.url(), &vectors).await;
    assert_every_vector_printed("javascript", &printed, &vectors);
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(prefix: &str) -> Scratch {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The comparison itself must be able to fail where it matters.
#[test]
fn integer_comparison_is_exact_and_float_comparison_is_by_value() {
    let json = |s: &str| serde_json::from_str::<Value>(s).unwrap();
    assert!(same(&json("9007199254740993"), &json("9007199254740993")));
    assert!(!same(&json("9007199254740992"), &json("9007199254740993")));
    assert!(!same(
        &json("9007199254740992.0"),
        &json("9007199254740993")
    ));
    assert!(
        !same(&json("1.0"), &json("1")),
        "an integer must not come back as a float"
    );
    assert!(same(&json("30"), &json("30.0")));
    assert!(!same(&json(r#"{"a":1}"#), &json(r#"{"a":1,"b":null}"#)));
    assert!(!same(&json(r#"{"a":1,"b":null}"#), &json(r#"{"a":1}"#)));
}
