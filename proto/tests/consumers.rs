//! Scenario: another team copies our Python or JavaScript consumer example, points it at a real
//! bilipulse NATS server and receives every kind of message. Each golden vector is published on
//! its real subject (KV values through a real KV bucket), and what the consumer prints must
//! equal the golden JSON twin, integers exactly (one of them is above 2^53).

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use async_nats::jetstream;
use bilipulse_proto::streams::{self, KvSpec};
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
    samples::all()
        .into_iter()
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
        .collect()
}

/// Every subject the vectors travel on, as subscription wildcards.
fn subscriptions() -> Vec<String> {
    vec![
        "bili.>".to_owned(),
        format!("$KV.{}.>", streams::ROOMS.bucket),
        format!("$KV.{}.>", streams::MEMBERS.bucket),
    ]
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

/// Publishes every vector on its subject: events, summaries and statuses as plain messages,
/// room configs and members as KV puts.
async fn publish_all(url: &str, vectors: &[Vector]) {
    let client = async_nats::connect(url)
        .await
        .expect("connect to nats-server");
    let js = jetstream::new(client.clone());
    let rooms = kv_bucket(&js, streams::ROOMS).await;
    let members = kv_bucket(&js, streams::MEMBERS).await;
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
    for v in vectors {
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
