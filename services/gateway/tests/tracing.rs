//! One trace across the bus: the simulator as Bilibili, and the ingester, the windower and the
//! gateway as three processes of their own, each exporting OTLP/HTTP to a real receiver
//! (`oteltap`, installed by `deploy/install-tools.sh`). With every event sampled
//! (`--trace-sample-ratio 1`) and a WebSocket client on the room's `1s` channel, one trace id
//! must hold an `ingest.event` span (ingester), a `window.close` span whose parent it is
//! (windower), and a `gateway.fanout` span whose parent is that `window.close` (gateway).
//!
//! oteltap prints spans without their resource, so `service.name` is not in its output. Each
//! service therefore exports to a receiver of its own: which receiver got a span says which
//! process sent it, which is stronger than a name the process could set wrongly.
//!
//! The ingester and windower binaries are taken from this test's target directory
//! ([`bilipulse_testkit::tools::workspace_bin`]); without them (a local run that built only the
//! gateway) the test is skipped, as it is without oteltap or nats-server. They are used as
//! found, so build them with the test: `cargo build --workspace --bins` first.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bilipulse_testkit::nats::free_port;
use bilipulse_testkit::process::ServiceProcess;
use common::*;
use serde_json::{Value, json};

const ROOM: u64 = 23_058_001;
const SESSDATA: &str = "tracing%2Csessdata%2C6161";
const UID: u64 = 6161;

/// How long the whole chain may take to show up: the ingester connects, the windower closes
/// a second (lateness 1 s), and each process exports in batches.
const TRACE_DEADLINE: Duration = Duration::from_secs(120);

/// One oteltap process: an OTLP/HTTP receiver on 127.0.0.1, its NDJSON output in a file.
struct Receiver {
    name: &'static str,
    port: u16,
    out: PathBuf,
    child: Child,
}

impl Receiver {
    /// Starts oteltap on a free port and waits until it accepts connections (spans sent
    /// before that would be lost, and the chain never complete).
    async fn start(bin: &Path, name: &'static str, dir: &Path) -> Receiver {
        let port = free_port();
        let out = dir.join(format!("oteltap-{name}.ndjson"));
        let file = std::fs::File::create(&out).expect("receiver output file");
        let err = file.try_clone().expect("receiver output file");
        let child = Command::new(bin)
            .args(["--port", &port.to_string()])
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("{} starts: {e}", bin.display()));
        let mut r = Receiver {
            name,
            port,
            out,
            child,
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        eventually(
            &format!("oteltap for {name} listening"),
            DEADLINE,
            async || {
                if let Ok(Some(status)) = r.child.try_wait() {
                    panic!("oteltap for {name} exited with {status}:\n{}", r.output());
                }
                tokio::net::TcpStream::connect(addr).await.ok().map(|_| ())
            },
        )
        .await;
        r
    }

    /// The endpoint for `OTEL_EXPORTER_OTLP_ENDPOINT` (the exporter appends `/v1/traces`).
    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Every span received so far (one JSON object per line; other lines are oteltap's own).
    fn spans(&self) -> Vec<Span> {
        self.output()
            .lines()
            .filter(|l| l.starts_with('{'))
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|v| Span::of(&v, self.name))
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The parts of an OTLP span the test looks at (hex ids as oteltap prints them).
#[derive(Debug, Clone)]
struct Span {
    /// Which receiver got it, i.e. which service sent it.
    service: &'static str,
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    links: Vec<(String, String)>,
    attributes: HashMap<String, Value>,
}

impl Span {
    fn of(v: &Value, service: &'static str) -> Option<Span> {
        let s = |k: &str| v[k].as_str().map(str::to_owned);
        let attributes = v["attributes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|kv| Some((kv["key"].as_str()?.to_owned(), kv["value"].clone())))
                    .collect()
            })
            .unwrap_or_default();
        let links = v["links"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|l| {
                        Some((
                            l["traceId"].as_str()?.to_owned(),
                            l["spanId"].as_str()?.to_owned(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(Span {
            service,
            name: s("name")?,
            trace_id: s("traceId")?,
            span_id: s("spanId")?,
            parent_span_id: s("parentSpanId").unwrap_or_default(),
            links,
            attributes,
        })
    }

    /// An integer attribute: OTLP JSON carries 64-bit integers as strings, and
    /// tracing-opentelemetry exports `u64` fields (ids such as `room`) as string values.
    fn int(&self, key: &str) -> Option<i64> {
        let v = self.attributes.get(key)?;
        let v = if v["intValue"].is_null() {
            &v["stringValue"]
        } else {
            &v["intValue"]
        };
        v.as_str()
            .and_then(|s| s.parse().ok())
            .or_else(|| v.as_i64())
    }
}

/// The chain the test looks for: `(ingest.event, window.close, gateway.fanout)`, or why there
/// is none yet.
fn find_chain(
    ingester: &[Span],
    windower: &[Span],
    gateway: &[Span],
) -> Result<(Span, Span, Span), String> {
    let events: HashMap<(&str, &str), &Span> = ingester
        .iter()
        .filter(|s| s.name == "ingest.event")
        .map(|s| ((s.trace_id.as_str(), s.span_id.as_str()), s))
        .collect();
    let closes: HashMap<(&str, &str), &Span> = windower
        .iter()
        .filter(|s| s.name == "window.close")
        .map(|s| ((s.trace_id.as_str(), s.span_id.as_str()), s))
        .collect();
    let fanouts: Vec<&Span> = gateway
        .iter()
        .filter(|s| s.name == "gateway.fanout")
        .collect();
    let (mut unsubscribed, mut no_close, mut no_event, mut unresolved_links) = (0, 0, 0, 0);
    for f in &fanouts {
        if f.int("subscribers").unwrap_or(0) < 1 {
            unsubscribed += 1; // read while the topic loaded, before our client joined
            continue;
        }
        let Some(close) = closes.get(&(f.trace_id.as_str(), f.parent_span_id.as_str())) else {
            no_close += 1;
            continue;
        };
        let Some(event) = events.get(&(close.trace_id.as_str(), close.parent_span_id.as_str()))
        else {
            no_event += 1;
            continue;
        };
        // The other sampled events the window counted are links to their own traces.
        if close
            .links
            .iter()
            .any(|(t, s)| !events.contains_key(&(t.as_str(), s.as_str())))
        {
            unresolved_links += 1;
            continue;
        }
        return Ok(((*event).clone(), (*close).clone(), (*f).clone()));
    }
    let why = format!(
        "{} ingest.event, {} window.close, {} gateway.fanout spans; of the fanouts, \
         {unsubscribed} had no subscriber, {no_close} a parent that is no window.close (yet), \
         {no_event} a window.close whose parent is no ingest.event (yet), {unresolved_links} \
         a window.close with links to unknown spans; the latest fanout: {:?}",
        events.len(),
        closes.len(),
        fanouts.len(),
        fanouts.last()
    );
    Err(why)
}

/// Spawns a service process exporting its spans to `receiver`, in batches every 200 ms
/// rather than the default 5 s.
fn spawn_traced(
    bin: &Path,
    id: &str,
    dir: &Path,
    flags: &BTreeMap<String, String>,
    receiver: &Receiver,
) -> ServiceProcess {
    let endpoint = receiver.endpoint();
    ServiceProcess::spawn_with_env(
        bin,
        id,
        dir,
        flags,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_spans_ingester_windower_and_gateway() {
    let Some(oteltap) = bilipulse_testkit::require(
        "oteltap, the OTLP receiver (deploy/requirements-otel.txt)",
        bilipulse_testkit::tools::oteltap(),
    ) else {
        return;
    };
    let Some((ingester_bin, windower_bin)) = service_binaries() else {
        return;
    };
    let Some(world) = World::start().await else {
        return;
    };
    let dir = world.dir.path();
    let rx_ingester = Receiver::start(&oteltap, "ingester", dir).await;
    let rx_windower = Receiver::start(&oteltap, "windower", dir).await;
    let rx_gateway = Receiver::start(&oteltap, "gateway", dir).await;

    // Bilibili: one busy room, and an account the ingester logs in with.
    let (sim, cookie) = simulated_room(ROOM, SESSDATA, UID, dir).await;
    world.add_room(ROOM, None).await;

    // The gateway first, with our client subscribed, so the first summaries are fanned out.
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let gateway = spawn_traced(
        env!("CARGO_BIN_EXE_bilipulse-gateway").as_ref(),
        "gateway",
        dir,
        &flags(&[
            ("--nats-url", world.nats.url()),
            ("--listen", listen.to_string()),
            ("--log", "info".into()),
            ("--api-token", TOKEN.into()),
            ("--no-resolve", "true".into()),
        ]),
        &rx_gateway,
    );
    eventually("gateway ready", DEADLINE, async || {
        gateway.is_ready().await.then_some(())
    })
    .await;
    let mut client = WsClient::connect(&format!("ws://{listen}/ws")).await;
    client
        .request(json!({"op": "subscribe", "rooms": [ROOM], "channels": ["1s"], "history": false}))
        .await;
    client.until(|v| v["type"] == "subscribed").await;
    // Keep reading, as a browser does, so the client's queue never fills.
    let reader = tokio::spawn(async move {
        let mut messages = 0u64;
        while let Ok(v) = client.next_or_end(TRACE_DEADLINE).await {
            if v["type"] == "message" {
                messages += 1;
            }
        }
        messages
    });

    let base = sim.http_base().to_string();
    let mut ingester_flags =
        bilipulse_testkit::stack::logged_in_ingester_flags("ing-0", &base, &cookie, UID);
    ingester_flags.extend(flags(&[
        ("--nats-url", world.nats.url()),
        ("--trace-sample-ratio", "1".into()),
        ("--log", "info".into()),
    ]));
    let ingester = spawn_traced(
        &ingester_bin,
        "ingester",
        dir,
        &ingester_flags,
        &rx_ingester,
    );
    let mut windower_flags = scenario_windower_flags("w-0");
    windower_flags.extend(flags(&[
        ("--nats-url", world.nats.url()),
        ("--log", "info".into()),
    ]));
    let windower = spawn_traced(
        &windower_bin,
        "windower",
        dir,
        &windower_flags,
        &rx_windower,
    );

    let (event, close, fanout) = converge(
        "one trace with ingest.event → window.close → gateway.fanout",
        TRACE_DEADLINE,
        async || {
            find_chain(
                &rx_ingester.spans(),
                &rx_windower.spans(),
                &rx_gateway.spans(),
            )
        },
    )
    .await;

    // One trace, three services, parent to child.
    assert_eq!(event.trace_id, close.trace_id);
    assert_eq!(close.trace_id, fanout.trace_id);
    assert_eq!(
        (event.service, close.service, fanout.service),
        ("ingester", "windower", "gateway")
    );
    assert!(
        event.parent_span_id.is_empty(),
        "ingest.event starts the trace: {event:?}"
    );
    assert_eq!(close.parent_span_id, event.span_id);
    assert_eq!(fanout.parent_span_id, close.span_id);
    // The attributes say what each span was about.
    assert_eq!(event.int("room"), Some(ROOM as i64), "{event:?}");
    assert!(event.attributes.contains_key("cmd") && event.attributes.contains_key("kind"));
    assert!(
        event.int("bili.recv_ms").is_some_and(|t| t > 0),
        "{event:?}"
    );
    assert_eq!(close.int("room"), Some(ROOM as i64), "{close:?}");
    assert_eq!(close.attributes["window"]["stringValue"], "1s", "{close:?}");
    assert!(
        close.int("sampled_events").is_some_and(|n| n >= 1),
        "{close:?}"
    );
    assert_eq!(
        fanout.attributes["topic"]["stringValue"]
            .as_str()
            .map(|t| t.contains("1s")),
        Some(true),
        "{fanout:?}"
    );
    assert!(
        fanout.int("subscribers").is_some_and(|n| n >= 1),
        "{fanout:?}"
    );

    // A window that counted several sampled events links the ones that are not its parent,
    // each an ingest.event of its own trace.
    let linked = eventually("a window.close with links", TRACE_DEADLINE, async || {
        rx_windower
            .spans()
            .into_iter()
            .find(|s| s.name == "window.close" && !s.links.is_empty())
    })
    .await;
    for (trace, span) in &linked.links {
        assert_ne!(
            (trace, span),
            (&linked.trace_id, &linked.parent_span_id),
            "the parent is not also a link"
        );
        converge(
            "links name ingest.event spans",
            TRACE_DEADLINE,
            async || {
                let spans = rx_ingester.spans();
                let known = spans.iter().any(|e| {
                    e.name == "ingest.event" && (&e.trace_id, &e.span_id) == (trace, span)
                });
                known
                    .then_some(())
                    .ok_or(format!("link {trace}/{span} names no ingest.event yet"))
            },
        )
        .await;
    }
    assert!(
        linked.links.len() < 8,
        "at most 8 contexts per window, one of them the parent"
    );

    // Each receiver got only its own service's spans.
    for (rx, own) in [
        (&rx_ingester, "ingest.event"),
        (&rx_windower, "window.close"),
        (&rx_gateway, "gateway.fanout"),
    ] {
        let foreign: Vec<String> = rx
            .spans()
            .into_iter()
            .map(|s| s.name)
            .filter(|n| {
                n != own && ["ingest.event", "window.close", "gateway.fanout"].contains(&n.as_str())
            })
            .collect();
        assert!(foreign.is_empty(), "{} received {foreign:?}", rx.name);
    }

    drop(ingester);
    drop(windower);
    drop(gateway);
    let messages = reader.await.unwrap_or(0);
    assert!(messages > 0, "the client received summaries");
}
