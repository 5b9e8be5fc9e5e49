//! Scenarios of the HTTP side: a web client resolves a room the 2026 way (buvid3, WBI keys,
//! short id → real id, signed getDanmuInfo) and gets what Bilibili would answer, including
//! the risk-control answers when it gets something wrong.

mod common;

use bilipulse_sim::{Account, Profile, RoomSpec, SimConfig};
use common::*;

const ROOM: u64 = 14073662;
const SHORT: u64 = 76;

fn cfg() -> SimConfig {
    let mut c = SimConfig::for_tests(&[RoomSpec::new(ROOM, Profile::Quiet).with_short_id(SHORT)]);
    c.accounts = vec!["sess%2Cdata=424242:tester".parse::<Account>().unwrap()];
    c
}

fn keys(v: &serde_json::Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

#[tokio::test]
async fn a_signed_request_with_an_issued_buvid3_gets_a_token_and_host_list() {
    let sim = start(cfg()).await;
    let client = http();
    let buvid = buvid3(&sim, &client).await;
    assert!(buvid.ends_with("infoc"), "{buvid}");
    let mixin = mixin_key(&sim, &client).await;
    let v = get_json(
        &client,
        &danmu_info_url(&sim, ROOM, &mixin, now_s()),
        Some(&format!("buvid3={buvid}")),
    )
    .await;
    assert_eq!(v["code"], 0, "{v}");
    let host = &v["data"]["host_list"][0];
    assert_eq!(host["host"], "127.0.0.1");
    assert_eq!(host["ws_port"], sim.addr().port());
    assert!(v["data"]["token"].as_str().unwrap().len() > 100);
    // Same envelope and data keys as the real capture.
    if let Some(dir) = bilipulse_testkit::fixtures::dir() {
        let real = bilipulse_testkit::fixtures::json(&dir.join("http/getDanmuInfo.room1017.json"));
        assert_eq!(keys(&v), keys(&real));
        assert_eq!(keys(&v["data"]), keys(&real["data"]));
        assert_eq!(keys(host), keys(&real["data"]["host_list"][0]));
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn a_tampered_signature_a_stale_wts_or_a_missing_buvid3_get_352() {
    let sim = start(cfg()).await;
    let client = http();
    let buvid = buvid3(&sim, &client).await;
    let cookie = format!("buvid3={buvid}");
    let mixin = mixin_key(&sim, &client).await;
    let good = danmu_info_url(&sim, ROOM, &mixin, now_s());
    let expect_352 = |v: serde_json::Value| {
        assert_eq!(
            v,
            serde_json::json!({"code": -352, "message": "-352", "ttl": 1})
        );
    };
    // Tampered: another room with the same signature.
    let tampered = good.replace(&format!("id={ROOM}"), &format!("id={SHORT}"));
    expect_352(get_json(&client, &tampered, Some(&cookie)).await);
    // Signed with a wrong key.
    let wrong = danmu_info_url(&sim, ROOM, "ffffffffffffffffffffffffffffffff", now_s());
    expect_352(get_json(&client, &wrong, Some(&cookie)).await);
    // Correctly signed but 20 minutes old.
    let stale = danmu_info_url(&sim, ROOM, &mixin, now_s() - 1200);
    expect_352(get_json(&client, &stale, Some(&cookie)).await);
    // No buvid3, or one this server never issued.
    expect_352(get_json(&client, &good, None).await);
    expect_352(
        get_json(
            &client,
            &good,
            Some("buvid3=D9656DA8-9BEF-F464-5B72-C4849AFD336379044infoc"),
        )
        .await,
    );
    // And the good one still works.
    assert_eq!(get_json(&client, &good, Some(&cookie)).await["code"], 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_request_without_user_agent_gets_http_412() {
    let sim = start(cfg()).await;
    let bare = reqwest::Client::new();
    for path in [
        "x/frontend/finger/spi",
        "x/web-interface/nav",
        "room/v1/Room/room_init?id=76",
        "xlive/web-room/v1/index/getDanmuInfo?id=14073662",
    ] {
        let resp = bare
            .get(format!("{}{path}", sim.http_base()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 412, "{path}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn nav_is_anonymous_with_keys_and_logged_in_with_a_configured_sessdata() {
    let sim = start(cfg()).await;
    let client = http();
    let url = format!("{}x/web-interface/nav", sim.http_base());
    let anon = get_json(&client, &url, None).await;
    assert_eq!(anon["code"], -101);
    assert_eq!(anon["data"]["isLogin"], false);
    let (img, sub) = sim.wbi_keys();
    assert!(
        anon["data"]["wbi_img"]["img_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("{img}.png"))
    );
    assert!(
        anon["data"]["wbi_img"]["sub_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("{sub}.png"))
    );
    if let Some(dir) = bilipulse_testkit::fixtures::dir() {
        let real =
            bilipulse_testkit::fixtures::json(&dir.join("http/x_web-interface_nav.anonymous.json"));
        assert_eq!(anon["message"], real["message"]);
        assert_eq!(keys(&anon["data"]), keys(&real["data"]));
    }
    let logged = get_json(&client, &url, Some("SESSDATA=sess%2Cdata")).await;
    assert_eq!(logged["code"], 0);
    assert_eq!(logged["data"]["isLogin"], true);
    assert_eq!(logged["data"]["mid"], 424242);
    let stranger = get_json(&client, &url, Some("SESSDATA=nope")).await;
    assert_eq!(stranger["code"], -101);
    sim.shutdown().await;
}

#[tokio::test]
async fn room_init_and_get_info_map_short_and_long_ids_to_the_real_room() {
    let sim = start(cfg()).await;
    let client = http();
    for id in [SHORT, ROOM] {
        let v = get_json(
            &client,
            &format!("{}room/v1/Room/room_init?id={id}", sim.http_base()),
            None,
        )
        .await;
        assert_eq!(v["code"], 0);
        assert_eq!(v["data"]["room_id"], ROOM);
        assert_eq!(v["data"]["short_id"], SHORT);
        let v = get_json(
            &client,
            &format!("{}room/v1/Room/get_info?room_id={id}", sim.http_base()),
            None,
        )
        .await;
        assert_eq!(v["code"], 0);
        assert_eq!(v["data"]["room_id"], ROOM);
        assert!(v["data"]["uid"].as_u64().unwrap() > 0);
    }
    if let Some(dir) = bilipulse_testkit::fixtures::dir() {
        let real = bilipulse_testkit::fixtures::json(&dir.join("http/room_init.id76.json"));
        let v = get_json(
            &client,
            &format!("{}room/v1/Room/room_init?id={SHORT}", sim.http_base()),
            None,
        )
        .await;
        assert_eq!(keys(&v["data"]), keys(&real["data"]));
    }
    let v = get_json(
        &client,
        &format!("{}room/v1/Room/room_init?id=999", sim.http_base()),
        None,
    )
    .await;
    assert_eq!(v["code"], 60004);
    let v = get_json(
        &client,
        &format!("{}room/v1/Room/get_info?room_id=999", sim.http_base()),
        None,
    )
    .await;
    assert_eq!(v["code"], 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn rotated_wbi_keys_invalidate_old_signatures() {
    let sim = start(cfg()).await;
    let client = http();
    let buvid = buvid3(&sim, &client).await;
    let cookie = format!("buvid3={buvid}");
    let old = mixin_key(&sim, &client).await;
    let (img, _) = sim.rotate_wbi_keys();
    let url = format!("{}x/web-interface/nav", sim.http_base());
    let nav = get_json(&client, &url, None).await;
    assert!(
        nav["data"]["wbi_img"]["img_url"]
            .as_str()
            .unwrap()
            .contains(&img)
    );
    let v = get_json(
        &client,
        &danmu_info_url(&sim, ROOM, &old, now_s()),
        Some(&cookie),
    )
    .await;
    assert_eq!(v["code"], -352);
    let new = mixin_key(&sim, &client).await;
    let v = get_json(
        &client,
        &danmu_info_url(&sim, ROOM, &new, now_s()),
        Some(&cookie),
    )
    .await;
    assert_eq!(v["code"], 0);
    sim.shutdown().await;
}
