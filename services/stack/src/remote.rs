//! `ps` and `scale`: requests to a running stack's control listener.

use crate::config::{ControlArgs, ScaleArgs};
use crate::error::StackError;
use crate::supervisor::Status;

fn unreachable(c: &ControlArgs) -> impl FnOnce(reqwest::Error) -> StackError + '_ {
    move |source| StackError::NoStack {
        addr: c.control_addr,
        source,
    }
}

/// Asks the stack to add or remove one replica; returns the line to print.
pub async fn scale(s: &ScaleArgs) -> Result<String, StackError> {
    let url = format!(
        "http://{}/scale/{}/{}",
        s.control.control_addr,
        s.role.name(),
        s.step
    );
    let response = reqwest::Client::new()
        .post(&url)
        .send()
        .await
        .map_err(unreachable(&s.control))?;
    let ok = response.status().is_success();
    let what = "reading the stack's answer";
    let body: serde_json::Value = response
        .json()
        .await
        .map_err(|source| StackError::Http { what, source })?;
    if !ok {
        return Err(StackError::Refused(
            body["error"]
                .as_str()
                .unwrap_or("no reason given")
                .to_owned(),
        ));
    }
    let status: Status = serde_json::from_value(body)
        .map_err(|e| StackError::Refused(format!("unexpected answer: {e}")))?;
    let verb = if s.step > 0 { "started" } else { "stopped" };
    Ok(format!("{verb} {}", status.name))
}

/// The stack's processes.
pub async fn processes(c: &ControlArgs) -> Result<Vec<Status>, StackError> {
    let url = format!("http://{}/processes", c.control_addr);
    let what = "reading the stack's answer";
    reqwest::get(&url)
        .await
        .map_err(unreachable(c))?
        .json()
        .await
        .map_err(|source| StackError::Http { what, source })
}

/// `ps` as a table.
pub fn table(list: &[Status]) -> String {
    let mut out = format!(
        "{:<12} {:<9} {:<12} {:>8}  LAST EXIT\n",
        "NAME", "PID", "PHASE", "RESTARTS"
    );
    for s in list {
        let pid = s.pid.map_or_else(|| "-".to_owned(), |p| p.to_string());
        let phase = format!("{:?}", s.phase);
        let exit = s.last_exit.as_deref().unwrap_or("");
        out.push_str(&format!(
            "{:<12} {pid:<9} {phase:<12} {:>8}  {exit}\n",
            s.name, s.restarts
        ));
    }
    out
}
