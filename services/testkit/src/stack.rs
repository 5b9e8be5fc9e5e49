//! Command lines of the services as the scenarios run them against the simulator, written once.

use std::collections::BTreeMap;
use std::path::Path;

/// The flags (flag → value) of an ingester `id` that resolves and connects through the
/// simulator at `sim_base` and logs in with the SESSDATA in `cookie` as `uid` (so identities are
/// not masked), with the scenarios' short status interval. Where it publishes (`--nats-url`) and
/// its admin port are the caller's: a [`crate::process::ServiceProcess`] takes these as they are.
pub fn logged_in_ingester_flags(
    id: &str,
    sim_base: &str,
    cookie: &Path,
    uid: u64,
) -> BTreeMap<String, String> {
    [
        ("--id", id.to_owned()),
        ("--bili-api-base", sim_base.to_owned()),
        ("--bili-live-base", sim_base.to_owned()),
        ("--bili-ws-scheme", "ws".to_owned()),
        ("--bili-http-interval", "2ms".to_owned()),
        ("--bili-cookie-file", cookie.display().to_string()),
        ("--bili-uid", uid.to_string()),
        ("--status-interval", "1s".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// The argument list (program name first) of the ingester of [`logged_in_ingester_flags`]
/// publishing to `nats_url`, its admin port on any free loopback port, for an ingester run
/// in-process (`Config::try_parse_from`).
pub fn logged_in_ingester(
    id: &str,
    nats_url: &str,
    sim_base: &str,
    cookie: &Path,
    uid: u64,
) -> Vec<String> {
    let mut args = vec![
        "bilipulse-ingester".to_owned(),
        format!("--nats-url={nats_url}"),
        "--admin-addr=127.0.0.1:0".into(),
    ];
    args.extend(
        logged_in_ingester_flags(id, sim_base, cookie, uid)
            .into_iter()
            .map(|(k, v)| format!("{k}={v}")),
    );
    args
}

/// The flags (flag → value) of the multi-process scenarios' windower `id`: `1s` and `1m`
/// windows closed one second late, checkpoints every 200 ms. Where it reads (`--nats-url`) and
/// its admin port are the caller's.
pub fn scenario_windower_flags(id: &str) -> BTreeMap<String, String> {
    [
        ("--id", id),
        ("--windows", "1s,1m"),
        ("--lateness", "1s"),
        ("--checkpoint-interval", "200ms"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// The flags (flag → value) of a load binary's ingester `id`: anonymous, against the simulator
/// at `sim_base` with the resolver's pacing cut to 1 ms, publishing to `nats_url`, logging
/// warnings only (a load test reads figures, not logs).
pub fn load_ingester_flags(id: &str, nats_url: &str, sim_base: &str) -> BTreeMap<String, String> {
    [
        ("--id", id),
        ("--nats-url", nats_url),
        ("--log", "warn"),
        ("--bili-api-base", sim_base),
        ("--bili-live-base", sim_base),
        ("--bili-ws-scheme", "ws"),
        ("--bili-http-interval", "1ms"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}
