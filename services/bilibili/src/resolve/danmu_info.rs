//! getDanmuInfo: the auth token and the message-server hosts.

use serde_json::Value;

use super::envelope;
use super::error::ResolveError;

/// Endpoint name used in errors.
pub const GET_DANMU_INFO: &str = "getDanmuInfo";

/// The token and servers for one room's WebSocket, valid for the User-Agent and account that
/// fetched them.
#[derive(Clone, PartialEq, Eq)]
pub struct DanmuInfo {
    /// The auth packet's `key`.
    pub token: String,
    /// Message servers, in Bilibili's order; never empty.
    pub hosts: Vec<DanmuHost>,
}

impl std::fmt::Debug for DanmuInfo {
    // The token authenticates as our account for this room: keep it out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DanmuInfo")
            .field("token", &format_args!("<{} chars>", self.token.len()))
            .field("hosts", &self.hosts)
            .finish()
    }
}

/// One message server; the ports come from the reply (they changed over the years: wss 443 → 2245).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DanmuHost {
    /// Host name.
    pub host: String,
    /// Raw TCP port.
    pub port: u16,
    /// Plain WebSocket port (`ws://host:ws_port/sub`).
    pub ws_port: u16,
    /// TLS WebSocket port (`wss://host:wss_port/sub`).
    pub wss_port: u16,
}

/// Parses a getDanmuInfo reply.
///
/// Host entries that lack a name or a valid port are skipped (and logged); a reply with no
/// usable host or no token is an error. A code-0 reply carrying only a `v_voucher` is the
/// WBI challenge, i.e. risk control.
pub fn parse_danmu_info(body: &[u8]) -> Result<DanmuInfo, ResolveError> {
    let data = envelope::data(GET_DANMU_INFO, body)?;
    let token = data
        .get("token")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if token.is_empty() {
        if data.get("v_voucher").is_some() {
            return Err(ResolveError::RiskControl {
                endpoint: GET_DANMU_INFO,
                code: 0,
            });
        }
        return Err(envelope::decode(GET_DANMU_INFO, "missing data.token"));
    }
    let entries = data
        .get("host_list")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let hosts: Vec<DanmuHost> = entries
        .iter()
        .filter_map(|e| {
            let host = parse_host(e);
            if host.is_none() {
                tracing::warn!(
                    endpoint = GET_DANMU_INFO,
                    "skipping unusable host_list entry"
                );
            }
            host
        })
        .collect();
    if hosts.is_empty() {
        return Err(envelope::decode(
            GET_DANMU_INFO,
            "no usable host in data.host_list",
        ));
    }
    Ok(DanmuInfo {
        token: token.to_owned(),
        hosts,
    })
}

fn parse_host(e: &Value) -> Option<DanmuHost> {
    let host = e.get("host")?.as_str()?.trim();
    // The name is spliced into a URL: accept host-name characters only.
    let plausible = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if !plausible {
        return None;
    }
    let port = |k: &str| {
        e.get(k)
            .and_then(envelope::uint)
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p != 0)
    };
    Some(DanmuHost {
        host: host.to_owned(),
        port: port("port")?,
        ws_port: port("ws_port")?,
        wss_port: port("wss_port")?,
    })
}
