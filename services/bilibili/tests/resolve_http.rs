//! The resolver over real HTTP on 127.0.0.1: a tiny responder serves the captured Bilibili
//! replies (and broken ones), and records what the resolver sent, so headers, cookies, WBI
//! parameters, the -352 refresh rule and the body limit are checked on the wire.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bilipulse_bilibili::resolve::{
    DanmuInfo, MAX_BODY, ResolveError, Resolver, ResolverConfig, Sessdata,
};
use bilipulse_bilibili::wbi;
use bilipulse_testkit::fixtures;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One request as the responder saw it.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    query: HashMap<String, String>,
    headers: HashMap<String, String>,
}

/// What to answer: status, body, and whether to announce the length.
struct Reply {
    status: u16,
    body: Vec<u8>,
    content_length: bool,
}

fn ok(body: &[u8]) -> Reply {
    Reply {
        status: 200,
        body: body.to_vec(),
        content_length: true,
    }
}

type Route = dyn Fn(&Seen, usize) -> Reply + Send + Sync;

/// A one-request-per-connection HTTP/1.1 responder; `route` gets the request and how many
/// earlier requests had the same path.
struct Responder {
    base: url::Url,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Responder {
    async fn start(route: Box<Route>) -> Responder {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = url::Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let seen = Arc::new(Mutex::new(Vec::<Seen>::new()));
        let log = seen.clone();
        let route: Arc<Route> = Arc::from(route);
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let log = log.clone();
                let route = route.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&buf).into_owned();
                    let mut lines = head.split("\r\n");
                    let target = lines.next().unwrap().split(' ').nth(1).unwrap().to_owned();
                    let url = url::Url::parse("http://x").unwrap().join(&target).unwrap();
                    let headers = lines
                        .take_while(|l| !l.is_empty())
                        .filter_map(|l| l.split_once(':'))
                        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                        .collect();
                    let req = Seen {
                        path: url.path().to_owned(),
                        query: url.query_pairs().into_owned().collect(),
                        headers,
                    };
                    let n = {
                        let mut log = log.lock().unwrap();
                        let n = log.iter().filter(|s| s.path == req.path).count();
                        log.push(req.clone());
                        n
                    };
                    let reply = route(&req, n);
                    let mut head = format!(
                        "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nConnection: close\r\n",
                        reply.status
                    );
                    if reply.content_length {
                        head.push_str(&format!("Content-Length: {}\r\n", reply.body.len()));
                    }
                    head.push_str("\r\n");
                    let _ = sock.write_all(head.as_bytes()).await;
                    let _ = sock.write_all(&reply.body).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        Responder { base, seen }
    }

    fn resolver(&self, tweak: impl FnOnce(&mut ResolverConfig)) -> Resolver {
        let mut cfg = ResolverConfig {
            api_base: self.base.clone(),
            live_base: self.base.clone(),
            user_agent: "bilipulse-test/1.0 (like Chrome)".into(),
            min_interval: Duration::ZERO,
            timeout: Duration::from_secs(5),
            ..ResolverConfig::default()
        };
        tweak(&mut cfg);
        Resolver::new(cfg).unwrap()
    }

    fn seen(&self, path: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }
}

const SPI: &str = "/x/frontend/finger/spi";
const NAV: &str = "/x/web-interface/nav";
const DANMU: &str = "/xlive/web-room/v1/index/getDanmuInfo";
const GET_INFO: &str = "/room/v1/Room/get_info";
const ROOM_INIT: &str = "/room/v1/Room/room_init";
const RISK: &[u8] = br#"{"code":-352,"message":"-352","ttl":1}"#;

struct Fixtures {
    spi: Vec<u8>,
    nav: Vec<u8>,
    danmu: Vec<u8>,
    room_init: Vec<u8>,
}

fn load() -> Option<Fixtures> {
    let dir: PathBuf = fixtures::dir()?.join("http");
    let read = |n: &str| std::fs::read(dir.join(n)).unwrap();
    Some(Fixtures {
        spi: read("x_frontend_finger_spi.json"),
        nav: read("x_web-interface_nav.anonymous.json"),
        danmu: read("getDanmuInfo.room1017.json"),
        room_init: read("room_init.id76.json"),
    })
}

fn json(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap()
}

/// Serves the fixtures; getDanmuInfo answers -352 for the first `risk` calls.
fn bilibili(fx: &Fixtures, risk: usize) -> Box<Route> {
    let (spi, nav, danmu, init) = (
        fx.spi.clone(),
        fx.nav.clone(),
        fx.danmu.clone(),
        fx.room_init.clone(),
    );
    Box::new(move |req: &Seen, n: usize| match req.path.as_str() {
        SPI => ok(&spi),
        NAV => ok(&nav),
        DANMU if n < risk => ok(RISK),
        DANMU => ok(&danmu),
        ROOM_INIT => ok(&init),
        _ => Reply {
            status: 404,
            body: b"not here".to_vec(),
            content_length: true,
        },
    })
}

#[tokio::test]
async fn danmu_info_is_wbi_signed_and_carries_ua_referer_and_cookies() {
    let Some(fx) = load() else { return };
    let server = Responder::start(bilibili(&fx, 0)).await;
    let secret = "sess1234%2Cabc";
    let resolver = server.resolver(|c| {
        c.sessdata = Some(Sessdata::new(secret).unwrap());
        c.uid = 42;
    });
    let info: DanmuInfo = resolver.danmu_info(1017).await.unwrap();
    assert_eq!(
        info.token,
        json(&fx.danmu)["data"]["token"].as_str().unwrap()
    );

    let buvid = json(&fx.spi)["data"]["b_3"].as_str().unwrap().to_owned();
    let calls = server.seen(DANMU);
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(
        call.headers["user-agent"],
        "bilipulse-test/1.0 (like Chrome)"
    );
    assert_eq!(call.headers["referer"], "https://live.bilibili.com/");
    let cookie = &call.headers["cookie"];
    assert!(cookie.contains(&format!("buvid3={buvid}")), "{cookie}");
    assert!(cookie.contains(&format!("SESSDATA={secret}")), "{cookie}");
    assert_eq!(call.query["id"], "1017");
    assert_eq!(call.query["type"], "0");
    assert_eq!(call.query["web_location"], "444.8");
    // The signature verifies with the mixin key derived from the nav fixture's key URLs.
    let nav = json(&fx.nav);
    let img = wbi::key_from_url(nav["data"]["wbi_img"]["img_url"].as_str().unwrap()).unwrap();
    let sub = wbi::key_from_url(nav["data"]["wbi_img"]["sub_url"].as_str().unwrap()).unwrap();
    let pairs: Vec<(String, String)> = call.query.clone().into_iter().collect();
    wbi::verify(&pairs, &wbi::mixin_key(img, sub)).expect("w_rid verifies");
    // Every request carries the configured UA.
    for s in server.seen.lock().unwrap().iter() {
        assert_eq!(
            s.headers["user-agent"], "bilipulse-test/1.0 (like Chrome)",
            "{}",
            s.path
        );
    }
}

#[tokio::test]
async fn buvid3_and_wbi_keys_are_fetched_once_for_many_rooms() {
    let Some(fx) = load() else { return };
    let server = Responder::start(bilibili(&fx, 0)).await;
    let resolver = Arc::new(server.resolver(|_| {}));
    let mut tasks = Vec::new();
    for room in 1..=8u64 {
        let r = resolver.clone();
        tasks.push(tokio::spawn(async move { r.danmu_info(room).await }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(server.seen(SPI).len(), 1);
    assert_eq!(server.seen(NAV).len(), 1);
    assert_eq!(server.seen(DANMU).len(), 8);
    // Anonymous: only the buvid3 cookie.
    assert!(!server.seen(DANMU)[0].headers["cookie"].contains("SESSDATA"));
}

#[tokio::test]
async fn a_352_refreshes_the_wbi_keys_and_retries_once() {
    let Some(fx) = load() else { return };
    let server = Responder::start(bilibili(&fx, 1)).await;
    let resolver = server.resolver(|_| {});
    resolver.danmu_info(1017).await.expect("the retry succeeds");
    assert_eq!(server.seen(DANMU).len(), 2);
    assert_eq!(
        server.seen(NAV).len(),
        2,
        "keys were refreshed before the retry"
    );
}

#[tokio::test]
async fn persistent_352_is_risk_control_without_a_retry_loop() {
    let Some(fx) = load() else { return };
    let server = Responder::start(bilibili(&fx, usize::MAX)).await;
    let resolver = server.resolver(|_| {});
    let e = resolver.danmu_info(1017).await.unwrap_err();
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
    assert_eq!(server.seen(DANMU).len(), 2, "one refresh + retry, no loop");
    // The buvid3 that kept failing is dropped: the next attempt fetches a new one.
    let _ = resolver.danmu_info(1017).await.unwrap_err();
    assert_eq!(server.seen(SPI).len(), 2);
}

#[tokio::test]
async fn http_412_is_risk_control_and_stops_the_fallback() {
    let server = Responder::start(Box::new(|_: &Seen, _| Reply {
        status: 412,
        body: b"<html>412</html>".to_vec(),
        content_length: true,
    }))
    .await;
    let resolver = server.resolver(|_| {});
    let e = resolver.room_info(76).await.unwrap_err();
    assert!(
        matches!(
            e,
            ResolveError::RiskControl {
                code: 412,
                endpoint: "get_info"
            }
        ),
        "{e}"
    );
    assert!(
        server.seen(ROOM_INIT).is_empty(),
        "no second endpoint after risk control"
    );
}

#[tokio::test]
async fn room_info_falls_back_to_room_init() {
    let Some(fx) = load() else { return };
    let init = fx.room_init.clone();
    let server = Responder::start(Box::new(move |req: &Seen, _| match req.path.as_str() {
        ROOM_INIT => ok(&init),
        _ => Reply {
            status: 500,
            body: b"oops".to_vec(),
            content_length: true,
        },
    }))
    .await;
    let resolver = server.resolver(|_| {});
    let expected = json(&fx.room_init)["data"]["room_id"].as_u64().unwrap();
    let info = resolver.room_info(76).await.unwrap();
    assert_eq!(info.room, expected);
    assert_eq!(server.seen(GET_INFO)[0].query["room_id"], "76");
    assert_eq!(server.seen(ROOM_INIT)[0].query["id"], "76");
}

#[tokio::test]
async fn oversized_and_html_replies_are_decode_errors() {
    for content_length in [true, false] {
        let server = Responder::start(Box::new(move |_: &Seen, _| Reply {
            status: 200,
            body: vec![b' '; MAX_BODY + 10],
            content_length,
        }))
        .await;
        let e = server.resolver(|_| {}).buvid3().await.unwrap_err();
        assert!(
            matches!(
                e,
                ResolveError::Decode {
                    endpoint: "finger/spi",
                    ..
                }
            ),
            "{e}"
        );
    }
    let server = Responder::start(Box::new(|_: &Seen, _| {
        ok(b"<!doctype html><title>hi</title>")
    }))
    .await;
    let e = server.resolver(|_| {}).buvid3().await.unwrap_err();
    assert!(matches!(e, ResolveError::Decode { .. }), "{e}");
}

#[tokio::test]
async fn an_unreachable_server_is_a_transport_error() {
    // Bind then drop, so the port is (almost certainly) closed.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let base = url::Url::parse(&format!("http://{addr}/")).unwrap();
    let resolver = Resolver::new(ResolverConfig {
        api_base: base.clone(),
        live_base: base,
        min_interval: Duration::ZERO,
        ..ResolverConfig::default()
    })
    .unwrap();
    let e = resolver.buvid3().await.unwrap_err();
    assert!(
        matches!(
            e,
            ResolveError::Transport {
                endpoint: "finger/spi",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn bad_configuration_is_refused() {
    let e = Resolver::new(ResolverConfig {
        user_agent: "bad\nagent".into(),
        ..ResolverConfig::default()
    })
    .unwrap_err();
    assert!(matches!(e, ResolveError::Config(_)));
    let e = Resolver::new(ResolverConfig {
        api_base: url::Url::parse("ftp://example.invalid/").unwrap(),
        ..ResolverConfig::default()
    })
    .unwrap_err();
    assert!(matches!(e, ResolveError::Config(_)));
}
