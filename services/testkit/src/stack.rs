//! Command lines of the services as the scenarios run them against the simulator, written once.

use std::path::Path;

/// The argument list (program name first) of an ingester `id` that publishes to `nats_url`,
/// resolves and connects through the simulator at `sim_base`, and logs in with the SESSDATA in
/// `cookie` as `uid` (so identities are not masked), with the scenarios' short status interval.
pub fn logged_in_ingester(
    id: &str,
    nats_url: &str,
    sim_base: &str,
    cookie: &Path,
    uid: u64,
) -> Vec<String> {
    vec![
        "bilipulse-ingester".to_owned(),
        format!("--id={id}"),
        format!("--nats-url={nats_url}"),
        "--admin-addr=127.0.0.1:0".into(),
        format!("--bili-api-base={sim_base}"),
        format!("--bili-live-base={sim_base}"),
        "--bili-ws-scheme=ws".into(),
        "--bili-http-interval=2ms".into(),
        format!("--bili-cookie-file={}", cookie.display()),
        format!("--bili-uid={uid}"),
        "--status-interval=1s".into(),
    ]
}
