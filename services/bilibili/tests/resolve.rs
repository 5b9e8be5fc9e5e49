//! Resolution replies as Bilibili really sends them (the captured fixtures), the risk-control
//! classification, SESSDATA redaction and request pacing.

use std::path::PathBuf;
use std::time::Duration;

use bilipulse_bilibili::resolve::{
    self, Pacer, ResolveError, ResolverConfig, Sessdata, parse_danmu_info, parse_finger_spi,
    parse_get_info, parse_nav, parse_room_init,
};
use bilipulse_testkit::fixtures;
use proptest::prelude::*;
use serde_json::Value;

fn http_fixture(name: &str) -> Option<(Vec<u8>, Value)> {
    let dir: PathBuf = fixtures::dir()?.join("http");
    let path = dir.join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let json = fixtures::json(&path);
    Some((bytes, json))
}

/// The file-name stem of a wbi_img URL, computed independently of the library.
fn stem(url: &str) -> String {
    let name = url.rsplit('/').next().unwrap();
    name.split('.').next().unwrap().to_owned()
}

#[test]
fn anonymous_nav_still_yields_the_wbi_keys() {
    let Some((body, json)) = http_fixture("x_web-interface_nav.anonymous.json") else {
        return;
    };
    assert_eq!(json["code"], -101, "the fixture is the anonymous reply");
    let nav = parse_nav(&body).expect("anonymous nav is usable");
    assert_eq!(
        nav.keys.img_key,
        stem(json["data"]["wbi_img"]["img_url"].as_str().unwrap())
    );
    assert_eq!(
        nav.keys.sub_key,
        stem(json["data"]["wbi_img"]["sub_url"].as_str().unwrap())
    );
    assert!(!nav.is_login);
    assert_eq!(nav.mid, 0);
}

#[test]
fn logged_in_nav_reports_the_account() {
    let Some((_, mut json)) = http_fixture("x_web-interface_nav.anonymous.json") else {
        return;
    };
    json["code"] = 0.into();
    json["data"]["isLogin"] = true.into();
    json["data"]["mid"] = 123_456_789u64.into();
    let nav = parse_nav(&serde_json::to_vec(&json).unwrap()).unwrap();
    assert!(nav.is_login);
    assert_eq!(nav.mid, 123_456_789);
}

#[test]
fn danmu_info_gives_the_token_and_every_host_with_its_own_ports() {
    let Some((body, json)) = http_fixture("getDanmuInfo.room1017.json") else {
        return;
    };
    let info = parse_danmu_info(&body).unwrap();
    assert_eq!(info.token, json["data"]["token"].as_str().unwrap());
    let list = json["data"]["host_list"].as_array().unwrap();
    assert!(list.len() >= 3);
    assert_eq!(info.hosts.len(), list.len());
    for (h, j) in info.hosts.iter().zip(list) {
        assert_eq!(h.host, j["host"].as_str().unwrap());
        assert_eq!(u64::from(h.port), j["port"].as_u64().unwrap());
        assert_eq!(u64::from(h.ws_port), j["ws_port"].as_u64().unwrap());
        assert_eq!(u64::from(h.wss_port), j["wss_port"].as_u64().unwrap());
    }
    assert!(
        !format!("{info:?}").contains(&info.token),
        "Debug must not print the token"
    );
}

#[test]
fn danmu_info_skips_unusable_hosts_and_needs_at_least_one() {
    let Some((_, mut json)) = http_fixture("getDanmuInfo.room1017.json") else {
        return;
    };
    let n = json["data"]["host_list"].as_array().unwrap().len();
    json["data"]["host_list"][0]["wss_port"] = 70_000.into();
    json["data"]["host_list"][1]["host"] = "evil/host?x".into();
    let info = parse_danmu_info(&serde_json::to_vec(&json).unwrap()).unwrap();
    assert_eq!(info.hosts.len(), n - 2);

    json["data"]["host_list"] = Value::Array(vec![]);
    let err = parse_danmu_info(&serde_json::to_vec(&json).unwrap()).unwrap_err();
    assert!(
        matches!(
            err,
            ResolveError::Decode {
                endpoint: "getDanmuInfo",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn room_init_maps_a_short_id_to_the_real_room() {
    let Some((body, json)) = http_fixture("room_init.id76.json") else {
        return;
    };
    let short = json["data"]["short_id"].as_u64().unwrap();
    let info = parse_room_init(short, &body).unwrap();
    assert_eq!(info.room, json["data"]["room_id"].as_u64().unwrap());
    assert_eq!(info.short_id, short);
    assert_eq!(info.uid, json["data"]["uid"].as_u64().unwrap());
    assert_eq!(
        u64::from(info.live_status),
        json["data"]["live_status"].as_u64().unwrap()
    );
}

#[test]
fn get_info_maps_a_short_id_to_the_real_room() {
    let Some((body, json)) = http_fixture("room_get_info.json") else {
        return;
    };
    let short = json["data"]["short_id"].as_u64().unwrap();
    let info = parse_get_info(short, &body).unwrap();
    assert_eq!(info.room, json["data"]["room_id"].as_u64().unwrap());
    assert_eq!(info.short_id, short);
    assert_eq!(info.uid, json["data"]["uid"].as_u64().unwrap());
    assert_eq!(
        u64::from(info.live_status),
        json["data"]["live_status"].as_u64().unwrap()
    );
}

#[test]
fn unknown_rooms_are_not_found() {
    let e = parse_room_init(
        9,
        br#"{"code":60004,"msg":"\u623f\u95f4\u4e0d\u5b58\u5728","message":"x","data":[]}"#,
    )
    .unwrap_err();
    assert!(matches!(e, ResolveError::NotFound { id: 9 }), "{e}");
    let e = parse_get_info(
        9,
        br#"{"code":1,"msg":"not found","message":"not found","data":[]}"#,
    )
    .unwrap_err();
    assert!(matches!(e, ResolveError::NotFound { id: 9 }), "{e}");
}

#[test]
fn finger_spi_gives_buvid3() {
    let Some((body, json)) = http_fixture("x_frontend_finger_spi.json") else {
        return;
    };
    assert_eq!(
        parse_finger_spi(&body).unwrap(),
        json["data"]["b_3"].as_str().unwrap()
    );
    let e = parse_finger_spi(br#"{"code":0,"data":{"b_3":"x; SESSDATA=stolen"}}"#).unwrap_err();
    assert!(matches!(e, ResolveError::Decode { .. }), "{e}");
}

#[test]
fn risk_control_is_classified_whatever_the_endpoint() {
    let body = br#"{"code":-352,"message":"-352","ttl":1}"#;
    for e in [
        parse_danmu_info(body).unwrap_err(),
        parse_nav(body).unwrap_err(),
        parse_finger_spi(body).unwrap_err(),
        parse_room_init(1, body).unwrap_err(),
    ] {
        assert!(
            matches!(e, ResolveError::RiskControl { code: -352, .. }),
            "{e}"
        );
        assert!(e.is_risk_control());
    }
    let e =
        parse_danmu_info(br#"{"code":-412,"message":"request was banned","ttl":1}"#).unwrap_err();
    assert!(matches!(
        e,
        ResolveError::RiskControl {
            code: -412,
            endpoint: "getDanmuInfo"
        }
    ));
    assert!(matches!(
        resolve::classify_status("nav", 412),
        Some(ResolveError::RiskControl {
            code: 412,
            endpoint: "nav"
        })
    ));
    assert!(matches!(
        resolve::classify_status("nav", 503),
        Some(ResolveError::Http { status: 503, .. })
    ));
    assert!(resolve::classify_status("nav", 200).is_none());
    // Other API errors are not risk control.
    let e = parse_danmu_info(br#"{"code":1002002,"message":"wrong room","ttl":1}"#).unwrap_err();
    assert!(
        matches!(e, ResolveError::Api { code: 1002002, .. }) && !e.is_risk_control(),
        "{e}"
    );
}

#[test]
fn a_voucher_instead_of_a_token_is_risk_control() {
    let Some((body, _)) = http_fixture("wbi-protected-api.v_voucher.json") else {
        return;
    };
    let e = parse_danmu_info(&body).unwrap_err();
    assert!(
        matches!(e, ResolveError::RiskControl { code: 0, .. }),
        "{e}"
    );
}

#[test]
fn html_and_other_junk_are_decode_errors_naming_the_endpoint() {
    for body in [
        &b"<html><body>502 Bad Gateway</body></html>"[..],
        b"",
        b"[1,2,3]",
        b"{\"data\":{}}",
        b"{\"code\":\"zero\"}",
        b"\xff\xfe\x00",
    ] {
        let e = parse_danmu_info(body).unwrap_err();
        assert!(
            matches!(
                e,
                ResolveError::Decode {
                    endpoint: "getDanmuInfo",
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().starts_with("getDanmuInfo"));
    }
}

#[test]
fn tolerant_of_extra_fields_and_numeric_strings() {
    let body = br#"{"code":0,"msg":"ok","new":{"x":1},"data":{"room_id":"14073662","short_id":76,"uid":"1","live_status":1,"extra":[1]}}"#;
    let info = parse_room_init(76, body).unwrap();
    assert_eq!(
        (info.room, info.short_id, info.uid, info.live_status),
        (14073662, 76, 1, 1)
    );
}

#[test]
fn sessdata_never_shows_in_debug_or_display() {
    let secret = "abcd1234%2C1790000000%2Cfeed1*b2";
    let s = Sessdata::new(format!("  {secret}\n")).unwrap();
    assert_eq!(s.expose(), secret);
    assert!(!format!("{s:?}").contains("abcd"));
    assert!(!format!("{s}").contains("abcd"));
    let cfg = ResolverConfig {
        sessdata: Some(s),
        ..ResolverConfig::default()
    };
    assert!(
        !format!("{cfg:?}").contains("abcd"),
        "config Debug leaks SESSDATA"
    );
    // Values that would break the Cookie header are refused without echoing them.
    let e = Sessdata::new("abc; other=1").unwrap_err();
    assert!(!e.to_string().contains("abc"));
    assert!(Sessdata::new("   ").is_err());
}

#[test]
fn sessdata_from_file_and_env() {
    let dir = std::env::temp_dir().join(format!("bilipulse-sessdata-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sessdata");
    std::fs::write(&path, "filevalue123\n").unwrap();
    assert_eq!(Sessdata::from_file(&path).unwrap().expose(), "filevalue123");
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(Sessdata::from_env("BILIPULSE_TEST_SURELY_UNSET_VARIABLE").is_err());
}

#[tokio::test(start_paused = true)]
async fn pacer_spaces_requests_by_the_minimum_interval() {
    let pacer = std::sync::Arc::new(Pacer::new(Duration::from_millis(1000)));
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let p = pacer.clone();
        tasks.push(tokio::spawn(async move {
            p.wait().await;
            tokio::time::Instant::now()
        }));
    }
    let mut times = Vec::new();
    for t in tasks {
        times.push(t.await.unwrap() - start);
    }
    times.sort();
    assert_eq!(times[0], Duration::ZERO, "the first request goes at once");
    for w in times.windows(2) {
        assert!(w[1] - w[0] >= Duration::from_millis(1000), "{times:?}");
    }
    // After a quiet period the next request is not delayed.
    tokio::time::advance(Duration::from_secs(10)).await;
    let before = tokio::time::Instant::now();
    pacer.wait().await;
    assert_eq!(tokio::time::Instant::now(), before);
}

proptest! {
    #[test]
    fn parsers_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_nav(&body);
        let _ = parse_danmu_info(&body);
        let _ = parse_room_init(1, &body);
        let _ = parse_get_info(1, &body);
        let _ = parse_finger_spi(&body);
    }

    #[test]
    fn parsers_never_panic_on_json_shaped_input(code in any::<i64>(), data in "[ -~]{0,64}") {
        let body = format!(r#"{{"code":{code},"message":"m","data":{data:?}}}"#);
        let _ = parse_nav(body.as_bytes());
        let _ = parse_danmu_info(body.as_bytes());
        let _ = parse_room_init(1, body.as_bytes());
    }
}
