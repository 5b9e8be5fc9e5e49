//! The real client (resolver + WebSocket) against the real simulator over 127.0.0.1: the whole
//! resolve → auth → heartbeat → commands path, and recovery from each fault the simulator can
//! inject. Timers are shortened through the client's configuration; every wait is an awaited
//! event with a deadline.

use std::sync::Arc;
use std::time::Duration;

use bilipulse_bilibili::client::{
    self, ClientConfig, ClientEvent, ConnectionState, DisconnectReason, MaskReason, Source,
    WsScheme,
};
use bilipulse_bilibili::resolve::{
    ResolveError, ResolveErrorKind, Resolver, ResolverConfig, Sessdata,
};
use bilipulse_sim::{
    Account, ConnEvent, Malformed, Oversize, Profile, RoomSpec, SimConfig, SimHandle,
};
use bilipulse_testkit::procstat::rss_kib;
use bilipulse_testkit::wait::{converge, eventually};
use tokio::sync::mpsc::Receiver;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const ROOM: u64 = 14073662;
const SHORT: u64 = 76;
/// Upper bound for anything to happen; generous because CI machines are slow.
const DEADLINE: Duration = Duration::from_secs(20);

async fn sim(cfg: impl FnOnce(&mut SimConfig)) -> SimHandle {
    let mut c = SimConfig::for_tests(&[RoomSpec::new(ROOM, Profile::Normal)
        .with_short_id(SHORT)
        .with_rate(50.0)]);
    cfg(&mut c);
    bilipulse_sim::start(c).await.expect("simulator starts")
}

fn resolver(sim: &SimHandle, login: Option<(&str, u64)>) -> Arc<Resolver> {
    let mut cfg = ResolverConfig {
        api_base: sim.http_base(),
        live_base: sim.http_base(),
        min_interval: Duration::from_millis(20),
        timeout: Duration::from_secs(5),
        ..ResolverConfig::default()
    };
    if let Some((sessdata, uid)) = login {
        cfg.sessdata = Some(Sessdata::new(sessdata).unwrap());
        cfg.uid = uid;
    }
    Arc::new(Resolver::new(cfg).unwrap())
}

/// Short timers so recoveries take milliseconds, not minutes.
fn config(resolver: Arc<Resolver>) -> ClientConfig {
    let mut cfg = ClientConfig::new(SHORT, Source::Resolve(resolver));
    cfg.scheme = WsScheme::Ws;
    cfg.heartbeat = Duration::from_millis(300);
    cfg.dead_after = Duration::from_millis(1500);
    cfg.auth_timeout = Duration::from_secs(3);
    cfg.backoff_min = Duration::from_millis(50);
    cfg.backoff_max = Duration::from_millis(400);
    cfg.risk_backoff_min = Duration::from_millis(300);
    cfg.risk_backoff_max = Duration::from_secs(2);
    cfg
}

/// A running client and everything it reported so far.
struct Watch {
    rx: Receiver<ClientEvent>,
    cancel: CancellationToken,
    handle: Option<JoinHandle<()>>,
    seen: Vec<ClientEvent>,
}

impl Watch {
    fn start(cfg: ClientConfig) -> Watch {
        let cancel = CancellationToken::new();
        let (rx, handle) = client::spawn(cfg, cancel.clone());
        Watch {
            rx,
            cancel,
            handle: Some(handle),
            seen: Vec::new(),
        }
    }

    /// Reads events until one matches, returning it; fails after the deadline.
    async fn until(&mut self, what: &str, pred: impl Fn(&ClientEvent) -> bool) -> ClientEvent {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(ev)) => {
                    self.seen.push(ev.clone());
                    if pred(&ev) {
                        return ev;
                    }
                }
                Ok(None) => panic!(
                    "client ended while waiting for {what}; states: {:?}",
                    self.states()
                ),
                Err(_) => panic!("no {what} within {DEADLINE:?}; states: {:?}", self.states()),
            }
        }
    }

    async fn state(
        &mut self,
        what: &str,
        pred: impl Fn(&ConnectionState) -> bool,
    ) -> ConnectionState {
        match self
            .until(what, |e| matches!(e, ClientEvent::State(s) if pred(s)))
            .await
        {
            ClientEvent::State(s) => s,
            _ => unreachable!(),
        }
    }

    async fn authenticated(&mut self) {
        self.state("Authenticated", |s| {
            matches!(s, ConnectionState::Authenticated { .. })
        })
        .await;
    }

    /// Waits until the connection counts as healthy: the server answered a heartbeat a full
    /// period after auth (the second reply).
    async fn healthy(&mut self) {
        for _ in 0..2 {
            self.until("a heartbeat reply", |e| {
                matches!(e, ClientEvent::Popularity(_))
            })
            .await;
        }
    }

    /// Waits for at least `n` more commands (any cmd), returning the cmds of every batch read
    /// (a frame's commands come as one batch, so possibly more than `n`).
    async fn commands(&mut self, n: usize) -> Vec<String> {
        let mut cmds = Vec::new();
        while cmds.len() < n {
            if let ClientEvent::Commands(batch) = self
                .until("a command", |e| matches!(e, ClientEvent::Commands(_)))
                .await
            {
                cmds.extend(batch.bodies.iter().map(|b| cmd(b)));
            }
        }
        cmds
    }

    fn states(&self) -> Vec<&ConnectionState> {
        self.seen
            .iter()
            .filter_map(|e| match e {
                ClientEvent::State(s) => Some(s),
                _ => None,
            })
            .collect()
    }

    /// Index into `seen` of the next event, to look at what happens from now on.
    fn mark(&self) -> usize {
        self.seen.len()
    }

    fn states_since(&self, mark: usize) -> Vec<&ConnectionState> {
        self.seen[mark..]
            .iter()
            .filter_map(|e| match e {
                ClientEvent::State(s) => Some(s),
                _ => None,
            })
            .collect()
    }

    async fn stop(mut self) -> Vec<ClientEvent> {
        self.cancel.cancel();
        self.state("Stopped", |s| *s == ConnectionState::Stopped)
            .await;
        tokio::time::timeout(DEADLINE, self.handle.take().unwrap())
            .await
            .expect("task ends")
            .unwrap();
        self.seen
    }
}

fn cmd(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).expect("command bodies are JSON");
    v["cmd"].as_str().expect("a string cmd").to_owned()
}

#[tokio::test]
async fn resolves_a_short_id_authenticates_heartbeats_and_receives_every_command() {
    let sim = sim(|_| {}).await;
    let cfg = config(resolver(&sim, None));
    let stats = cfg.stats.clone();
    let mut w = Watch::start(cfg);

    assert_eq!(
        w.state("Resolving", |_| true).await,
        ConnectionState::Resolving
    );
    match w.state("Connecting", |_| true).await {
        ConnectionState::Connecting { host, attempt } => {
            assert_eq!(host, format!("127.0.0.1:{}", sim.addr().port()));
            assert_eq!(attempt, 0);
        }
        other => panic!("{other:?}"),
    }
    w.authenticated().await;
    w.until("a heartbeat reply", |e| {
        matches!(e, ClientEvent::Popularity(1))
    })
    .await;
    let cmds = w.commands(20).await;
    assert!(cmds.iter().any(|c| c != "LOG_IN_NOTICE"), "{cmds:?}");

    // The sim authenticated our connection for the real room id.
    let auths: Vec<_> = sim
        .truth()
        .connections()
        .into_iter()
        .filter(|c| c.event == ConnEvent::Auth)
        .collect();
    assert_eq!(auths.len(), 1);
    assert_eq!(auths[0].room, Some(ROOM));
    assert_eq!(auths[0].protover, Some(3));

    // Stop the traffic; once the queued frames are through, we have exactly what was sent.
    sim.pause_traffic().await;
    let expected = sim.truth().delivered_cmds(ROOM);
    let total: u64 = expected.values().sum();
    let mut received: std::collections::BTreeMap<String, u64> = Default::default();
    for ev in &w.seen {
        if let ClientEvent::Commands(batch) = ev {
            for body in &batch.bodies {
                *received.entry(cmd(body)).or_default() += 1;
            }
        }
    }
    let mut have: u64 = received
        .iter()
        .filter(|(c, _)| *c != "LOG_IN_NOTICE")
        .map(|(_, n)| n)
        .sum();
    while have < total {
        for c in w.commands(1).await {
            if c != "LOG_IN_NOTICE" {
                have += 1;
                *received.entry(c).or_default() += 1;
            }
        }
    }
    received.remove("LOG_IN_NOTICE");
    assert_eq!(
        received, expected,
        "every delivered command arrived exactly once"
    );
    assert_eq!(stats.snapshot().malformed, 0);
    assert_eq!(stats.snapshot().connects, 1);

    let seen = w.stop().await;
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, ClientEvent::State(ConnectionState::Disconnected { .. })))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn an_anonymous_connection_is_reported_masked_once() {
    let sim = sim(|_| {}).await;
    let mut w = Watch::start(config(resolver(&sim, None)));
    w.authenticated().await;
    let masked = w
        .state("Masked", |s| matches!(s, ConnectionState::Masked { .. }))
        .await;
    assert_eq!(
        masked,
        ConnectionState::Masked {
            reason: MaskReason::AnonymousUid
        }
    );
    // The server's LOG_IN_NOTICE still comes through as a command, without a second Masked.
    w.until(
        "LOG_IN_NOTICE",
        |e| matches!(e, ClientEvent::Commands(b) if b.bodies.iter().any(|body| cmd(body) == "LOG_IN_NOTICE")),
    )
    .await;
    w.commands(10).await;
    let seen = w.stop().await;
    let n = seen
        .iter()
        .filter(|e| matches!(e, ClientEvent::State(ConnectionState::Masked { .. })))
        .count();
    assert_eq!(n, 1);
    let auth = sim
        .truth()
        .connections()
        .into_iter()
        .find(|c| c.event == ConnEvent::Auth)
        .unwrap();
    assert_eq!(auth.masked, Some(true));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_logged_in_connection_is_not_masked() {
    const SESSDATA: &str = "sim-account-cookie%2C1";
    const UID: u64 = 777_000_111;
    let sim = sim(|c| {
        c.accounts = vec![Account {
            sessdata: SESSDATA.into(),
            uid: UID,
            uname: "tester".into(),
        }];
    })
    .await;
    let resolver = resolver(&sim, Some((SESSDATA, UID)));
    let nav = resolver.nav().await.unwrap();
    assert!(nav.is_login);
    assert_eq!(nav.mid, UID);
    let cfg = config(resolver);
    assert_eq!(cfg.uid, UID, "the client takes the uid from the resolver");
    let mut w = Watch::start(cfg);
    w.authenticated().await;
    let cmds = w.commands(30).await;
    assert!(!cmds.contains(&"LOG_IN_NOTICE".to_owned()));
    let seen = w.stop().await;
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, ClientEvent::State(ConnectionState::Masked { .. })))
    );
    let auth = sim
        .truth()
        .connections()
        .into_iter()
        .find(|c| c.event == ConnEvent::Auth)
        .unwrap();
    assert_eq!((auth.uid, auth.masked), (Some(UID), Some(false)));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_dropped_connection_comes_back_with_the_same_token_and_commands_flow_again() {
    let sim = sim(|_| {}).await;
    let mut w = Watch::start(config(resolver(&sim, None)));
    w.authenticated().await;
    w.healthy().await;

    let mark = w.mark();
    assert_eq!(sim.faults().drop_connections(Some(ROOM)).unwrap(), 1);
    w.state("Disconnected", |s| {
        matches!(s, ConnectionState::Disconnected { .. })
    })
    .await;
    match w
        .state("Connecting", |s| {
            matches!(s, ConnectionState::Connecting { .. })
        })
        .await
    {
        ConnectionState::Connecting { attempt, .. } => {
            assert_eq!(attempt, 0, "the dropped connection was healthy")
        }
        _ => unreachable!(),
    }
    w.authenticated().await;
    w.commands(5).await;
    assert!(
        !w.states_since(mark).contains(&&ConnectionState::Resolving),
        "a healthy connection's token is reused: {:?}",
        w.states_since(mark)
    );
    let auths = sim
        .truth()
        .connections()
        .into_iter()
        .filter(|c| c.event == ConnEvent::Auth)
        .count();
    assert_eq!(auths, 2);
    w.stop().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn risk_control_on_getdanmuinfo_is_reported_then_the_client_recovers() {
    let sim = sim(|_| {}).await;
    // Two -352s: the resolver refreshes its WBI keys and retries once, then gives up.
    sim.faults().risk_control(2);
    let cfg = config(resolver(&sim, None));
    let min = cfg.risk_backoff_min;
    let stats = cfg.stats.clone();
    let mut w = Watch::start(cfg);
    match w
        .state("ResolveFailed", |s| {
            matches!(s, ConnectionState::ResolveFailed { .. })
        })
        .await
    {
        ConnectionState::ResolveFailed {
            kind,
            error,
            retry_in,
        } => {
            assert_eq!(
                kind,
                ResolveErrorKind::RiskControl { code: -352 },
                "{error}"
            );
            assert_eq!(kind.label(), "-352");
            assert!(
                retry_in >= min,
                "risk control backs off at least {min:?}, got {retry_in:?}"
            );
        }
        _ => unreachable!(),
    }
    w.state("Resolving again", |s| *s == ConnectionState::Resolving)
        .await;
    w.authenticated().await;
    w.commands(5).await;
    assert_eq!(stats.snapshot().resolve_failures, 1);
    w.stop().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn the_resolver_reports_352_as_risk_control_and_survives_a_key_rotation() {
    let sim = sim(|_| {}).await;
    let r = resolver(&sim, None);
    let first = r.danmu_info(ROOM).await.unwrap();
    assert_eq!(first.hosts[0].ws_port, sim.addr().port());

    // Rotated keys: the cached ones now sign wrongly; one -352 refreshes them.
    sim.rotate_wbi_keys();
    let again = r.danmu_info(ROOM).await.expect("refresh after -352");
    assert!(!again.token.is_empty());

    sim.faults().risk_control(2);
    let e = r.danmu_info(ROOM).await.unwrap_err();
    assert!(
        matches!(
            e,
            ResolveError::RiskControl {
                code: -352,
                endpoint: "getDanmuInfo"
            }
        ),
        "{e}"
    );

    let info = r.room_info(SHORT).await.unwrap();
    assert_eq!((info.room, info.short_id), (ROOM, SHORT));
    let e = r.room_info(999_999_999).await.unwrap_err();
    assert!(
        matches!(e, ResolveError::NotFound { id: 999_999_999 }),
        "{e}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_refused_auth_fetches_a_new_token_and_recovers() {
    let sim = sim(|_| {}).await;
    sim.faults().refuse_auth(1);
    let cfg = config(resolver(&sim, None));
    let stats = cfg.stats.clone();
    let mut w = Watch::start(cfg);
    match w
        .state("Disconnected", |s| {
            matches!(s, ConnectionState::Disconnected { .. })
        })
        .await
    {
        ConnectionState::Disconnected { reason, .. } => {
            assert!(reason.is_auth_rejected(), "{reason}")
        }
        _ => unreachable!(),
    }
    let mark = w.mark();
    w.authenticated().await;
    assert_eq!(
        w.states_since(mark).first(),
        Some(&&ConnectionState::Resolving),
        "{:?}",
        w.states()
    );
    w.commands(5).await;
    assert_eq!(stats.snapshot().auth_failures, 1);
    w.stop().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn malformed_and_oversize_frames_do_not_stop_delivery() {
    let sim = sim(|_| {}).await;
    let cfg = config(resolver(&sim, None));
    let stats = cfg.stats.clone();
    let mut w = Watch::start(cfg);
    w.authenticated().await;
    w.commands(5).await;

    let faults = sim.faults();
    for kind in [
        Malformed::BadHeaderLen,
        Malformed::Truncated,
        Malformed::GarbageBrotli,
    ] {
        assert_eq!(faults.malformed(Some(ROOM), kind, 2).unwrap(), 1);
    }
    for kind in [Oversize::DeclaredLength, Oversize::DecompressionBomb] {
        assert_eq!(faults.oversize(Some(ROOM), kind, 1).unwrap(), 1);
    }
    // Commands keep coming (on this connection, or a new one if one was cut).
    w.commands(20).await;
    converge("8 malformed frames counted", DEADLINE, async || {
        let s = stats.snapshot();
        if s.malformed >= 8 {
            return Ok(());
        }
        w.commands(1).await;
        Err(format!("{s:?}"))
    })
    .await;
    let states: Vec<ConnectionState> = w.states().into_iter().cloned().collect();
    let seen = w.stop().await;
    assert!(
        seen.iter().all(|e| match e {
            ClientEvent::Commands(b) => b.bodies.iter().all(|body| cmd(body) != "SIM_MALFORMED"),
            _ => true,
        }),
        "no part of a malformed frame is delivered as a command"
    );
    // The decoder keeps the connection through all of these.
    assert_eq!(
        states
            .iter()
            .filter(|s| matches!(s, ConnectionState::Authenticated { .. }))
            .count(),
        1,
        "{states:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_stalled_server_is_detected_dead_and_the_client_re_resolves_then_recovers() {
    let sim = sim(|_| {}).await;
    let mut cfg = config(resolver(&sim, None));
    cfg.reresolve_after = 2;
    let mut w = Watch::start(cfg);
    w.authenticated().await;
    w.healthy().await;

    let mark = w.mark();
    sim.faults()
        .stall(Some(ROOM), Duration::from_secs(6))
        .unwrap();
    match w
        .state("Disconnected", |s| {
            matches!(s, ConnectionState::Disconnected { .. })
        })
        .await
    {
        ConnectionState::Disconnected { reason, .. } => {
            assert!(matches!(reason, DisconnectReason::Dead(_)), "{reason}")
        }
        _ => unreachable!(),
    }
    // Connections during the stall authenticate (and get LOG_IN_NOTICE) but no heartbeat is
    // answered: after two such failures the client fetches a new token.
    w.state("Resolving", |s| *s == ConnectionState::Resolving)
        .await;
    let states = w.states_since(mark);
    let attempts: Vec<u32> = states
        .iter()
        .filter_map(|s| match s {
            ConnectionState::Connecting { attempt, .. } => Some(*attempt),
            _ => None,
        })
        .collect();
    assert_eq!(attempts, [0, 1], "{states:?}");
    // After the stall, data flows again.
    w.commands(5).await;
    w.stop().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn cancelling_closes_the_websocket_cleanly() {
    let sim = sim(|_| {}).await;
    let mut w = Watch::start(config(resolver(&sim, None)));
    w.authenticated().await;
    w.commands(3).await;
    w.stop().await;
    // The sim logs the close of the connection it had authenticated.
    eventually(
        "the sim to see the connection close",
        DEADLINE,
        async || {
            let conns = sim.truth().connections();
            conns
                .iter()
                .any(|c| c.event == ConnEvent::Close && c.room == Some(ROOM))
                .then_some(())
        },
    )
    .await;
    assert_eq!(sim.open_connections(), 0);
    sim.shutdown().await;
}

/// Resident memory of this process, bytes (Linux; 0 elsewhere).
fn rss_bytes() -> u64 {
    rss_kib(std::process::id()) * 1024
}

/// A measurement, not a check of a target: memory per idle authenticated connection, with the
/// simulator in its own process so only client memory is counted. Run with
/// `cargo test -p bilipulse-sim --test client_against_sim -- --ignored --nocapture`
/// (`BILIPULSE_MEASURE_PROTOVER=0|2|3` picks the compression; default 3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement; prints figures"]
async fn memory_per_idle_connection() {
    use std::io::BufRead;
    const N: usize = 1000;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_bilipulse-sim"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--rooms",
            &format!("{ROOM}:quiet:0.01"),
        ])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("simulator binary starts");
    // Logs share stdout with the URL line; keep draining it so the child never blocks.
    let (url_tx, url_rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if line.starts_with("http://") {
                let _ = url_tx.send(line);
            }
        }
    });
    let line = url_rx
        .recv_timeout(DEADLINE)
        .expect("the simulator prints its base URL");
    let base = url::Url::parse(line.trim()).unwrap();
    let resolver = Arc::new(
        Resolver::new(ResolverConfig {
            api_base: base.clone(),
            live_base: base,
            // Paced like production (only faster), so HTTP bursts do not inflate the figure.
            min_interval: Duration::from_millis(2),
            ..ResolverConfig::default()
        })
        .unwrap(),
    );
    let start = |stats: &mut Vec<Watch>| {
        let mut cfg = ClientConfig::new(ROOM, Source::Resolve(resolver.clone()));
        cfg.scheme = WsScheme::Ws;
        if let Some(p) = std::env::var("BILIPULSE_MEASURE_PROTOVER")
            .ok()
            .and_then(|p| p.parse().ok())
        {
            cfg.protover = p;
        }
        stats.push(Watch::start(cfg));
    };
    // Warm up (TLS roots, allocator arenas, HTTP pool) with one client before measuring.
    let mut clients = Vec::new();
    start(&mut clients);
    clients[0].authenticated().await;
    let before = rss_bytes();
    for _ in 1..N {
        start(&mut clients);
    }
    for (i, c) in clients.iter_mut().enumerate() {
        if i > 0 {
            c.authenticated().await;
        }
        c.until("a heartbeat reply", |e| {
            matches!(e, ClientEvent::Popularity(_))
        })
        .await;
    }
    let after = rss_bytes();
    let per = (after.saturating_sub(before)) / (N as u64 - 1);
    println!(
        "idle connections: {N}; RSS before {before} B, after {after} B; ≈ {per} B per connection"
    );
    assert!(after > before);
    for c in clients {
        c.stop().await;
    }
    let _ = child.kill();
    let _ = child.wait();
}
