//! The HTTP side, path-compatible with Bilibili: finger/spi, nav, room_init, get_info,
//! getDanmuInfo (WBI + buvid3 checked, -352 otherwise), the `/sub` upgrade, and the admin
//! endpoints (faults, truth summary, traffic pause, key rotation).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::clock::unix_ms;
use crate::faults::{FaultRequest, Faults};
use crate::identity::Binding;
use crate::shared::Shared;
use crate::signature;
use crate::ws;

type St = State<Arc<Shared>>;

/// All routes of the simulator's single listener.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let bili = Router::new()
        .route("/x/frontend/finger/spi", get(finger_spi))
        .route("/x/web-frontend/getbuvid", get(getbuvid))
        .route("/x/web-interface/nav", get(nav))
        .route("/room/v1/Room/room_init", get(room_init))
        .route("/room/v1/Room/get_info", get(get_info))
        .route("/xlive/web-room/v1/index/getDanmuInfo", get(danmu_info))
        .layer(middleware::from_fn(require_user_agent));
    Router::new()
        .merge(bili)
        .route("/sub", get(sub))
        .route("/admin/faults", post(admin_faults))
        .route("/admin/truth/summary", get(admin_summary))
        .route("/admin/traffic", post(admin_traffic))
        .route("/admin/wbi/rotate", post(admin_rotate))
        .route("/admin/rooms", get(admin_rooms))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(shared)
}

fn user_agent(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.trim().is_empty())
}

/// Bilibili answers requests without a User-Agent with HTTP 412 (risk control).
async fn require_user_agent(req: Request, next: Next) -> Response {
    if user_agent(req.headers()).is_none() {
        return (
            StatusCode::PRECONDITION_FAILED,
            Json(json!({"code": -412, "message": "请求被拦截", "ttl": 1, "data": null})),
        )
            .into_response();
    }
    next.run(req).await
}

/// Values of one cookie name in all `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn account<'a>(shared: &'a Shared, headers: &HeaderMap) -> Option<&'a crate::config::Account> {
    let sess = cookie(headers, "SESSDATA")?;
    shared.cfg.accounts.iter().find(|a| a.sessdata == sess)
}

async fn finger_spi(State(s): St) -> Json<Value> {
    let (b3, b4) = s.identity.issue_buvid();
    Json(json!({"code": 0, "data": {"b_3": b3, "b_4": b4}, "message": "ok"}))
}

async fn getbuvid(State(s): St) -> Json<Value> {
    let (b3, _) = s.identity.issue_buvid();
    Json(json!({"code": 0, "data": {"buvid": b3}}))
}

async fn nav(State(s): St, headers: HeaderMap) -> Json<Value> {
    let keys = s.identity.keys();
    let wbi_img = json!({
        "img_url": format!("https://i0.hdslb.com/bfs/wbi/{}.png", keys.img),
        "sub_url": format!("https://i0.hdslb.com/bfs/wbi/{}.png", keys.sub),
    });
    match account(&s, &headers) {
        Some(a) => Json(json!({
            "code": 0, "message": "0", "ttl": 1,
            "data": {
                "isLogin": true, "mid": a.uid, "uname": a.uname,
                "face": "https://i0.hdslb.com/bfs/face/member/noface.jpg",
                "level_info": {"current_level": 5}, "money": 0, "vipStatus": 0,
                "wbi_img": wbi_img,
            }
        })),
        None => Json(json!({
            "code": -101, "message": "账号未登录", "ttl": 1,
            "data": {"isLogin": false, "wbi_img": wbi_img}
        })),
    }
}

fn room_fields(s: &Shared, id: u64) -> Option<Value> {
    let meta = s.dir.resolve(id)?;
    let live = meta.live_status();
    let live_time = meta.live_time.load(Ordering::Relaxed);
    Some(json!({
        "room_id": meta.info.room,
        "short_id": meta.info.short_id.unwrap_or(0),
        "uid": meta.info.anchor_uid,
        "live_status": live,
        "live_time": if live == 1 { live_time } else { -62_170_012_800 },
        "title": meta.title,
        "area_id": meta.area.0, "area_name": meta.area.1,
        "parent_area_id": meta.area.2, "parent_area_name": meta.area.3,
    }))
}

fn id_param(raw: Option<&str>, name: &str) -> Option<u64> {
    param(&query_pairs(raw), name).and_then(|v| v.parse().ok())
}

async fn room_init(State(s): St, RawQuery(q): RawQuery) -> Json<Value> {
    match id_param(q.as_deref(), "id").and_then(|id| room_fields(&s, id)) {
        Some(f) => {
            let mut data = json!({
                "need_p2p": 0, "is_hidden": false, "is_locked": false, "is_portrait": false,
                "hidden_till": 0, "lock_till": 0, "encrypted": false, "pwd_verified": false,
                "room_shield": 0, "is_sp": 0, "special_type": 0,
            });
            for k in ["room_id", "short_id", "uid", "live_status", "live_time"] {
                data[k] = f[k].clone();
            }
            Json(json!({"code": 0, "msg": "ok", "message": "ok", "data": data}))
        }
        None => Json(
            json!({"code": 60004, "msg": "直播间不存在", "message": "直播间不存在", "data": {}}),
        ),
    }
}

async fn get_info(State(s): St, RawQuery(q): RawQuery) -> Json<Value> {
    match id_param(q.as_deref(), "room_id").and_then(|id| room_fields(&s, id)) {
        Some(mut f) => {
            f["attention"] = json!(10_000 + f["uid"].as_u64().unwrap_or(0) % 1_000_000);
            f["online"] = json!(0);
            f["is_portrait"] = json!(false);
            f["description"] = json!("");
            // get_info reports live_time as a date string, unlike room_init.
            f["live_time"] = json!("0000-00-00 00:00:00");
            Json(json!({"code": 0, "msg": "ok", "message": "ok", "data": f}))
        }
        None => {
            Json(json!({"code": 1, "msg": "未找到该房间", "message": "未找到该房间", "data": []}))
        }
    }
}

fn risk_control() -> Json<Value> {
    Json(json!({"code": -352, "message": "-352", "ttl": 1}))
}

async fn danmu_info(State(s): St, headers: HeaderMap, RawQuery(q): RawQuery) -> Json<Value> {
    if s.faults.take_risk_control() {
        return risk_control();
    }
    let pairs = query_pairs(q.as_deref());
    let now_s = unix_ms() / 1000;
    let fresh = param(&pairs, "wts")
        .and_then(|w| w.parse::<i64>().ok())
        .is_some_and(|w| (w - now_s).unsigned_abs() <= s.cfg.wts_tolerance_secs);
    if !fresh {
        tracing::debug!("getDanmuInfo: wts missing or stale");
        return risk_control();
    }
    let keys = s.identity.keys();
    let verdict = match &keys.mixin {
        Some(mixin) => signature::check(&pairs, mixin),
        None => Err(signature::SignatureError::BadKeys),
    };
    if let Err(e) = verdict {
        tracing::debug!(error = %e, "getDanmuInfo: bad WBI signature");
        return risk_control();
    }
    if !cookie(&headers, "buvid3").is_some_and(|b| s.identity.knows_buvid(b)) {
        tracing::debug!("getDanmuInfo: no buvid3 issued by this server");
        return risk_control();
    }
    let Some(meta) = param(&pairs, "id")
        .and_then(|v| v.parse::<u64>().ok())
        .and_then(|id| s.dir.resolve(id))
    else {
        return Json(json!({"code": 1_002_002, "message": "房间号不存在", "ttl": 1}));
    };
    let uid = account(&s, &headers).map_or(0, |a| a.uid);
    let token = s.identity.issue_token(Binding {
        room: meta.info.room,
        user_agent: user_agent(&headers).unwrap_or_default().to_owned(),
        uid,
    });
    let port = s.addr.port();
    let host = json!({"host": s.public_host, "port": port, "wss_port": port, "ws_port": port});
    Json(json!({
        "code": 0, "message": "0", "ttl": 1,
        "data": {
            "group": "live", "business_id": 0, "refresh_row_factor": 0.125,
            "refresh_rate": 100, "max_delay": 5000, "token": token,
            "host_list": [host.clone(), host],
        }
    }))
}

async fn sub(State(s): St, headers: HeaderMap, upgrade: WebSocketUpgrade) -> Response {
    let ua = user_agent(&headers).unwrap_or_default().to_owned();
    upgrade
        .read_buffer_size(4 << 10)
        .write_buffer_size(0)
        .max_message_size(ws::MAX_CLIENT_MESSAGE)
        .max_frame_size(ws::MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| ws::serve(socket, s, ua))
}

async fn admin_faults(State(s): St, Json(req): Json<FaultRequest>) -> Response {
    match (Faults { shared: s }).apply(&req) {
        Ok(outcome) => Json(outcome).into_response(),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}

async fn admin_summary(State(s): St) -> Response {
    Json(s.truth.summary()).into_response()
}

#[derive(Deserialize)]
struct TrafficReq {
    paused: bool,
}

async fn admin_traffic(State(s): St, Json(req): Json<TrafficReq>) -> Json<Value> {
    s.traffic.paused.store(req.paused, Ordering::Release);
    Json(json!({"paused": req.paused}))
}

async fn admin_rotate(State(s): St) -> Json<Value> {
    let k = s.identity.rotate_keys();
    Json(json!({"img_key": k.img, "sub_key": k.sub}))
}

async fn admin_rooms(State(s): St) -> Json<Value> {
    let rooms: Vec<Value> = s
        .dir
        .rooms
        .iter()
        .map(|r| {
            json!({
                "room": r.info.room, "short_id": r.info.short_id, "anchor_uid": r.info.anchor_uid,
                "profile": r.info.profile.as_str(), "rate": r.info.rate, "live_status": r.live_status(),
            })
        })
        .collect();
    Json(json!({"rooms": rooms}))
}
